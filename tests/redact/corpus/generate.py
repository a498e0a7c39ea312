"""Generate the labelled redaction corpus (seeded): ``generated.jsonl`` beside this file.

Run ``python tests/redact/corpus/generate.py`` to rewrite it, or with
``--check`` to verify the committed file is what the generator produces.
Tests only read the file; regenerating it is this separate command.

Each line is one utterance as a caller, an ASR engine or a bot's LLM
context would produce it::

    {"id": "phone-0007", "category": "PHONE", "form": "spoken",
     "text": "my number is four one five ...", "pii": [[13, 52, "PHONE"]]}

``pii`` lists every span of personal data with its kind; an utterance with
an empty list is a hard negative (ordinary text that must survive
unchanged). Values are built from the forms each kind takes (every
``phonenumbers`` format for common regions, every IBAN country, spoken
digits with "oh", "double", "triple", spelled letters, ...), not from what
the redactor happens to find.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from pathlib import Path

import phonenumbers

SEED = 20260125
OUT = Path(__file__).with_name("generated.jsonl")

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]  # fmt: skip
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINALS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
            "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
            "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth",
            "twenty first", "twenty second", "twenty third", "twenty fourth", "twenty fifth",
            "twenty sixth", "twenty seventh", "twenty eighth"]  # fmt: skip
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip
FIRST = ["John", "Priya", "Wei", "Mohammed", "Olga", "Siobhan", "Kwame", "Yuki", "Mateo",
         "Aisha", "Liam", "Fatima", "Chen", "Sofia", "Dmitri", "Amara", "Lucas", "Ingrid",
         "Rahul", "Zoe", "Tomasz", "Nia", "Hiroshi", "Elena", "Kofi", "Maeve", "Arjun",
         "Camila", "Bjorn", "Leila", "Oluwaseun", "Grace", "Henrik", "Mei", "Diego", "Anya",
         "Samuel", "Noor", "Patrick", "Ximena"]  # fmt: skip
LAST = ["Smith", "Patel", "Nguyen", "Garcia", "O'Brien", "Kowalski", "Okafor", "Muller",
        "Johansson", "Tanaka", "Rossi", "Haddad", "Schmidt", "Kim", "Fernandes", "Novak",
        "MacDonald", "Achterberg", "Ivanova", "Mensah", "Dubois", "Larsen", "Costa", "Khan",
        "Walsh", "Zhang", "Moreau", "Jablonski", "Osei", "Lindqvist"]  # fmt: skip
DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "mail.example.org", "acme-corp.io",
           "dept.university.edu", "example.net", "proton.me", "company.de", "shop.example.fr",
           "icloud.com", "fastmail.com"]  # fmt: skip
STREETS = ["Baker", "Elm", "Oak", "Maple", "Main", "High", "Church", "Station", "Victoria",
           "Park", "King's", "Queen", "Mill", "Pennsylvania", "Sunset", "Ocean", "Lincoln",
           "Washington", "Cedar", "Willow", "Acacia", "Hawthorn", "Lakeview", "5th", "42nd",
           "Martin Luther King Jr", "St. James's", "Old Kent", "Cherry Tree"]  # fmt: skip
SUFFIXES = ["Street", "St", "St.", "Avenue", "Ave", "Road", "Rd", "Lane", "Drive", "Dr",
            "Boulevard", "Blvd", "Court", "Place", "Way", "Terrace", "Crescent", "Close",
            "Parkway", "Square", "Grove", "Gardens", "Row", "Mews"]  # fmt: skip
CITIES = ["Springfield", "London", "Manchester", "Boston", "Dublin", "Toronto", "Leeds",
          "Austin", "Bristol", "Denver"]  # fmt: skip
STATES = ["IL", "CA", "NY", "TX", "MA", "WA", "CO", "FL", "OH", "GA"]
PHONE_REGIONS = ["US", "CA", "GB", "DE", "FR", "ES", "IT", "NL", "IE", "AU", "IN", "BR", "MX",
                 "JP", "SE", "CH", "PL", "BE", "AT", "PT", "DK", "NO", "FI", "NZ", "SG", "ZA"]  # fmt: skip
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


class Utt:
    """An utterance built piece by piece, remembering where each PII span is."""

    def __init__(self) -> None:
        self.text = ""
        self.pii: list[list[object]] = []

    def add(self, s: str) -> Utt:
        self.text += s
        return self

    def pii_(self, s: str, kind: str) -> Utt:
        start = len(self.text)
        self.text += s
        self.pii.append([start, len(self.text), kind])
        return self


def fill(template: str, values: list[tuple[str, str]]) -> Utt:
    """``template`` with ``{}`` holes filled by (value, kind) in order."""
    u = Utt()
    parts = template.split("{}")
    assert len(parts) == len(values) + 1, template
    for part, (value, kind) in zip(parts, [*values, ("", "")], strict=True):
        u.add(part)
        if value:
            u.pii_(value, kind)
    return u


def capitalise(u: Utt, rng: random.Random) -> Utt:
    if rng.random() < 0.5 and u.text:
        u.text = u.text[0].upper() + u.text[1:]
    return u


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.records: list[dict[str, object]] = []
        self.counts: dict[str, int] = {}

    def emit(self, category: str, form: str, u: Utt, note: str = "") -> None:
        n = self.counts.get(category, 0) + 1
        self.counts[category] = n
        rec: dict[str, object] = {
            "id": f"{category.lower()}-{n:04d}",
            "category": category,
            "form": form,
            "text": u.text,
            "pii": u.pii,
        }
        if note:
            rec["note"] = note
        self.records.append(rec)

    # -- spoken helpers ----------------------------------------------------------------

    def say_digits(self, digits: str, *, groups: list[int] | None = None, zero: str | None = None,
                   repeats: bool = True, pauses: bool = True) -> str:  # fmt: skip
        rng = self.rng
        zero_word = zero or rng.choice(["oh", "zero"])
        chunks = [digits]
        if groups:
            chunks, pos = [], 0
            for g in groups:
                chunks.append(digits[pos : pos + g])
                pos += g
            if pos < len(digits):
                chunks.append(digits[pos:])
        said = []
        for chunk in chunks:
            words: list[str] = []
            i = 0
            while i < len(chunk):
                d = chunk[i]
                run = 1
                while i + run < len(chunk) and chunk[i + run] == d:
                    run += 1
                word = zero_word if d == "0" else DIGIT_WORDS[int(d)]
                if repeats and run >= 3 and rng.random() < 0.6:
                    words.append(f"triple {word}")
                    i += 3
                elif repeats and run >= 2 and rng.random() < 0.5:
                    words.append(f"double {word}")
                    i += 2
                elif (
                    len(chunk) == 4
                    and i == 0
                    and chunk[0] != "0"
                    and chunk[2] != "0"
                    and rng.random() < 0.15
                ):
                    words.append(f"{self.two_digit(chunk[:2])} {self.two_digit(chunk[2:])}")
                    i += 4
                else:
                    words.append(word)
                    i += 1
            said.append(" ".join(words))
        sep = rng.choice([", ", " ", ", "]) if pauses else " "
        return sep.join(said)

    def two_digit(self, dd: str) -> str:
        n = int(dd)
        if n < 10:
            return f"oh {DIGIT_WORDS[n]}"
        if n < 20:
            return TEENS[n - 10]
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + DIGIT_WORDS[n % 10])

    def say_year(self, year: int) -> str:
        if 2000 <= year < 2010:
            return "two thousand" + ("" if year == 2000 else " and " + DIGIT_WORDS[year % 10])
        hi, lo = divmod(year, 100)
        return f"{self.two_digit(f'{hi:02d}')} {self.two_digit(f'{lo:02d}')}"

    def spell(self, s: str, *, sep: str | None = None) -> str:
        rng = self.rng
        out = []
        for ch in s:
            if ch.isdigit():
                out.append("oh" if ch == "0" and rng.random() < 0.5 else DIGIT_WORDS[int(ch)])
            elif ch.isalpha():
                out.append(ch.upper())
        return (sep if sep is not None else rng.choice([" ", " ", ", ", "-"])).join(out)

    # -- phones -------------------------------------------------------------------------

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def code(self, n: int) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(n))

    def phone_number(self, region: str) -> phonenumbers.PhoneNumber:
        rng = self.rng
        kind = rng.choice(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
        )
        example = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(
            region
        )
        national = str(example.national_number)
        for _ in range(200):
            tail = "".join(rng.choice(string.digits) for _ in range(min(4, len(national) - 3)))
            cand = national[: len(national) - len(tail)] + tail
            num = phonenumbers.parse("+" + str(example.country_code) + cand, None)
            if phonenumbers.is_valid_number(num):
                return num
        return example

    def phones(self) -> None:
        rng = self.rng
        ctx = ["my number is {}", "you can reach me on {}", "call me back at {}", "{} is my cell",
               "it's {}", "the number is {}, thanks", "can you text {}?", "my mobile number is {} if you need it",
               "please call {} after six", "I'm on {}", "try my work line {}", "phone: {}",
               "the caller left {} as a callback number", "my wife's number is {}", "dial {}"]  # fmt: skip
        fmts = ["E164", "INTERNATIONAL", "NATIONAL", "RFC3966", "00", "dots", "slash", "compact",
                "trunk0", "ext", "dashes"]  # fmt: skip
        for i in range(130):
            region = PHONE_REGIONS[i % len(PHONE_REGIONS)]
            num = self.phone_number(region)
            fmt = fmts[i % len(fmts)]
            nat = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
            intl = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            prefix = ""
            if fmt == "E164":
                value = e164
            elif fmt == "INTERNATIONAL":
                value = intl
            elif fmt == "NATIONAL":
                value = nat
            elif fmt == "RFC3966":
                value = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.RFC3966)
                prefix, value = "tel:", value[4:]
            elif fmt == "00":
                value = "00" + intl[1:]
            elif fmt == "dots":
                src = intl if rng.random() < 0.4 else nat
                value = ".".join(
                    g for g in src.replace("-", " ").replace("(", "").replace(")", "").split() if g
                )
            elif fmt == "slash":
                groups = nat.replace("-", " ").replace("(", "").replace(")", "").split()
                value = groups[0] + "/" + "".join(groups[1:]) if len(groups) > 1 else nat
            elif fmt == "compact":
                value = "".join(c for c in nat if c.isdigit())
            elif fmt == "trunk0":
                nsn = str(num.national_number)
                value = f"+{num.country_code} (0){nsn[:2]} {nsn[2:5]} {nsn[5:]}"
            elif fmt == "dashes":
                value = "-".join(intl.replace("-", " ").split())
            else:
                value = (
                    rng.choice([intl, nat])
                    + rng.choice([" ext. ", " x", " extension ", ", ext "])
                    + str(rng.randint(10, 9999))
                )
            u = fill(rng.choice(ctx).replace("{}", prefix + "{}", 1), [(value, "PHONE")])
            self.emit("PHONE", "written", capitalise(u, rng), f"{region} {fmt}")
        for i in range(90):
            region = rng.choice(["US", "US", "US", "GB", "GB", "CA", "IE", "AU", "DE"])
            num = self.phone_number(region)
            nat = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
            groups = [
                len(g) for g in nat.replace("(", "").replace(")", "").replace("-", " ").split()
            ]
            digits = "".join(c for c in nat if c.isdigit())
            style = i % 6
            if style == 0:
                value = self.say_digits(digits, groups=groups)
            elif style == 1:
                value = self.say_digits(digits, groups=groups, pauses=False, repeats=False)
            elif style == 2:
                cc = str(num.country_code)
                value = (
                    "plus "
                    + " ".join(DIGIT_WORDS[int(c)] for c in cc)
                    + " "
                    + self.say_digits(str(num.national_number))
                )
            elif style == 3:
                cc = str(num.country_code)
                value = (
                    "zero zero "
                    + " ".join(DIGIT_WORDS[int(c)] for c in cc)
                    + " "
                    + self.say_digits(str(num.national_number))
                )
            elif style == 4:
                value = (
                    self.say_digits(digits, groups=groups)
                    + " extension "
                    + self.say_digits(str(rng.randint(100, 999)), pauses=False)
                )
            else:
                # Mixed: some groups said, some written.
                said = self.say_digits(digits[: groups[0]], pauses=False)
                value = (
                    said
                    + " "
                    + " ".join(nat.replace("(", "").replace(")", "").replace("-", " ").split()[1:])
                )
            ctx = rng.choice(["my number is {}", "it's {}", "call me on {}", "you can reach me at {}",
                              "the best number is {}", "{} that's my cell", "uh my phone number is {}",
                              "ok so it's {}, got that?", "ring me on {} tomorrow"])  # fmt: skip
            self.emit(
                "PHONE",
                "spoken",
                capitalise(fill(ctx, [(value, "PHONE")]), rng),
                f"{region} style{style}",
            )

    # -- cards --------------------------------------------------------------------------

    def card_number(self, prefix: str, length: int) -> str:
        rng = self.rng
        body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
        for check in string.digits:
            cand = body + check
            total = 0
            for i, ch in enumerate(reversed(cand)):
                d = int(ch)
                if i % 2:
                    d *= 2
                    d -= 9 if d > 9 else 0
                total += d
            if total % 10 == 0:
                return cand
        raise AssertionError("unreachable")

    def cards(self) -> None:
        rng = self.rng
        brands = [("4", 16, [4, 4, 4, 4]), ("51", 16, [4, 4, 4, 4]), ("2221", 16, [4, 4, 4, 4]),
                  ("34", 15, [4, 6, 5]), ("37", 15, [4, 6, 5]), ("6011", 16, [4, 4, 4, 4]),
                  ("3528", 16, [4, 4, 4, 4]), ("36", 14, [4, 6, 4]), ("62", 19, [4, 4, 4, 4, 3]),
                  ("4", 13, [4, 4, 5])]  # fmt: skip
        ctx = ["my card number is {}", "card {} expiring 09/27", "it's a visa, {}", "charge {} please",
               "the long number on the card is {}", "use {} for the payment", "card no: {}"]  # fmt: skip
        for i in range(45):
            prefix, length, groups = brands[i % len(brands)]
            num = self.card_number(prefix, length)
            style = i % 3
            if style == 0:
                pos, parts = 0, []
                for g in groups:
                    parts.append(num[pos : pos + g])
                    pos += g
                value = " ".join(parts)
            elif style == 1:
                pos, parts = 0, []
                for g in groups:
                    parts.append(num[pos : pos + g])
                    pos += g
                value = "-".join(parts)
            else:
                value = num
            self.emit(
                "CARD",
                "written",
                capitalise(fill(rng.choice(ctx), [(value, "CARD")]), rng),
                f"{prefix} {style}",
            )
        for i in range(25):
            prefix, length, groups = brands[i % len(brands)]
            num = self.card_number(prefix, length)
            value = self.say_digits(num, groups=groups, pauses=i % 2 == 0)
            ctx = rng.choice(
                [
                    "the card number is {}",
                    "ok it's {}",
                    "my card is {}",
                    "{} and the expiry is next year",
                ]
            )
            self.emit("CARD", "spoken", capitalise(fill(ctx, [(value, "CARD")]), rng))

    # -- IBAN ---------------------------------------------------------------------------

    def iban(self, country: str) -> str:
        rng = self.rng
        length = IBAN_LENGTHS[country]
        n = length - 4
        letters = rng.random() < 0.35
        bban = "".join(
            rng.choice(string.ascii_uppercase) if letters and i < 4 else rng.choice(string.digits)
            for i in range(n)
        )
        number = "".join(str(int(ch, 36)) for ch in bban + country + "00")
        check = 98 - int(number) % 97
        return f"{country}{check:02d}{bban}"

    def ibans(self) -> None:
        rng = self.rng
        ctx = ["my IBAN is {}", "please send it to {}", "IBAN: {}", "the account is {} at my bank",
               "transfer to {} thanks", "iban {}", "pay into {} by Friday"]  # fmt: skip
        countries = sorted(IBAN_LENGTHS)
        for i, country in enumerate(countries):
            iban = self.iban(country)
            style = i % 4
            grouped = " ".join(iban[j : j + 4] for j in range(0, len(iban), 4))
            value = [grouped, iban, iban.lower(), grouped.lower()][style]
            self.emit(
                "IBAN",
                "written",
                capitalise(fill(rng.choice(ctx), [(value, "IBAN")]), rng),
                f"{country} {style}",
            )
        for _ in range(20):
            iban = self.iban(rng.choice(["GB", "DE", "FR", "NL", "IE", "ES", "BE", "IT"]))
            value = self.spell(iban)
            ctx = rng.choice(
                ["my iban is {}", "it's {}", "the IBAN is {}, did you get that?", "{}"]
            )
            self.emit("IBAN", "spoken", fill(ctx, [(value, "IBAN")]))

    # -- email --------------------------------------------------------------------------

    def emails(self) -> None:
        rng = self.rng
        for i in range(45):
            first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower().replace("'", "")
            local = [f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{first}_{last}",
                     f"{first}-{last}", f"{first}.{last}+calls", f"{first}.{last}{rng.randint(1, 99)}",
                     f"{last}{first[0]}"][i % 8]  # fmt: skip
            value = f"{local}@{rng.choice(DOMAINS)}"
            if i % 5 == 0:
                value = value.title()
            ctx = rng.choice(["my email is {}", "send it to {}", "you can email me at {}", "email address: {}",
                              "it's {}", "cc {} on that", "my work email is {}, not the gmail one"])  # fmt: skip
            self.emit("EMAIL", "written", capitalise(fill(ctx, [(value, "EMAIL")]), rng))
        seps = [("dot", "."), ("period", "."), ("underscore", "_"), ("dash", "-"), ("hyphen", "-")]
        for i in range(55):
            first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower().replace("'", "")
            word, _ = seps[i % len(seps)]
            style = i % 6
            digits = " ".join(DIGIT_WORDS[int(d)] for d in str(rng.randint(1, 99)))
            if style == 0:
                local = f"{first} {word} {last}"
            elif style == 1:
                local = f"{first} {word} {last} {digits}"
            elif style == 2:
                local = f"{first[0]} {word} {last}"
            elif style == 3:
                local = f"{first}{last}"
            elif style == 4:
                local = f"{first}.{last}"
            else:
                local = f"{last} {digits}"
            domain = rng.choice(["gmail", "outlook", "yahoo", "hotmail", "example", "acme"])
            sub = rng.choice(["", "", "mail dot ", "dept dot "])
            tld = rng.choice(["com", "com", "co dot uk", "org", "net", "io", "de"])
            at = rng.choice(["at", "at", "at sign", "at symbol"])
            if rng.random() < 0.15:
                domain = f"{domain} dash corp"
            value = f"{local} {at} {sub}{domain} dot {tld}"
            ctx = rng.choice(["my email is {}", "it's {}", "send it to {} please", "email me at {}",
                              "the address is {}", "{}, all lower case", "uh it's {} yeah"])  # fmt: skip
            self.emit("EMAIL", "spoken", fill(ctx, [(value, "EMAIL")]), f"style{style}")

    # -- national ids -------------------------------------------------------------------

    def ssns(self) -> None:
        rng = self.rng
        for i in range(30):
            area = rng.choice([n for n in range(1, 900) if n != 666])
            ssn = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
            if i < 20:
                style = i % 3
                value = [f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}", f"{ssn[:3]} {ssn[3:5]} {ssn[5:]}", ssn][
                    style
                ]
                ctx = rng.choice(["my SSN is {}", "social security number {}", "SSN: {}", "my social is {}",
                                  "it's {} for the social"])  # fmt: skip
                self.emit("SSN", "written", capitalise(fill(ctx, [(value, "SSN")]), rng))
            else:
                value = self.say_digits(ssn, groups=[3, 2, 4])
                ctx = rng.choice(["my social security number is {}", "my social is {}", "ssn {}"])
                self.emit("SSN", "spoken", fill(ctx, [(value, "SSN")]))

    def ninos(self) -> None:
        rng = self.rng
        first = "ABCEGHJKLMNOPRSTWXYZ"
        second = "ABCEGHJKLMNPRSTWXYZ"
        for i in range(28):
            while True:
                prefix = rng.choice(first) + rng.choice(second)
                if prefix not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
                    break
            digits = "".join(rng.choice(string.digits) for _ in range(6))
            suffix = rng.choice("ABCD")
            if i < 16:
                style = i % 4
                value = [f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}",
                         f"{prefix}{digits}{suffix}", f"{prefix}{digits}{suffix}".lower(),
                         f"{prefix} {digits} {suffix}"][style]  # fmt: skip
                ctx = rng.choice(
                    ["my national insurance number is {}", "NI number {}", "NINO: {}", "it's {}"]
                )
                self.emit("NINO", "written", capitalise(fill(ctx, [(value, "NINO")]), rng))
            else:
                value = self.spell(prefix + digits + suffix, sep=" ")
                ctx = rng.choice(
                    ["my national insurance number is {}", "NI number is {}", "it's {}"]
                )
                self.emit("NINO", "spoken", fill(ctx, [(value, "NINO")]))

    # -- dates of birth -----------------------------------------------------------------

    def dobs(self) -> None:
        rng = self.rng
        cues = ["I was born on {}", "my date of birth is {}", "DOB: {}", "date of birth {}",
                "my birthday is {}", "born {}", "d.o.b. {}", "and my DOB is {}", "birth date: {}"]  # fmt: skip
        for i in range(40):
            y, m, d = rng.randint(1930, 2008), rng.randint(1, 12), rng.randint(1, 28)
            style = i % 8
            value = [f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{y % 100:02d}", f"{y}-{m:02d}-{d:02d}",
                     f"{d:02d}.{m:02d}.{y}", f"{MONTHS[m - 1]} {d}, {y}", f"{d} {MONTHS[m - 1]} {y}",
                     f"{d}{'th' if 4 <= d <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')} of {MONTHS[m - 1]} {y}",
                     f"{MONTHS[m - 1][:3]} {d} {y}"][style]  # fmt: skip
            cue = rng.choice(cues)
            if style == 6:
                cue = cue.replace("{}", "the {}")
            self.emit(
                "DOB", "written", capitalise(fill(cue, [(value, "DOB")]), rng), f"style{style}"
            )
        for i in range(40):
            y, m, d = rng.randint(1930, 2008), rng.randint(1, 12), rng.randint(1, 28)
            style = i % 6
            month = MONTHS[m - 1].lower() if rng.random() < 0.5 else MONTHS[m - 1]
            if style == 0:
                value = f"{month} {ORDINALS[d]} {self.say_year(y)}"
            elif style == 1:
                value = f"{ORDINALS[d]} of {month} {self.say_year(y)}"
            elif style == 2:
                value = f"{ORDINALS[d]} of {month}, {self.say_year(y)}"
            elif style == 3:
                value = self.say_digits(
                    f"{m:02d}{d:02d}{y}", groups=[2, 2, 4], zero="oh", repeats=False, pauses=False
                )
            elif style == 4:
                value = self.say_year(y)
            else:
                value = f"{month} {ORDINALS[d]}"
            cue = rng.choice(["I was born on {}", "my date of birth is {}", "my birthday is {}",
                              "date of birth is {}", "uh I was born {}"]) if style != 4 else rng.choice(
                ["I was born in {}", "born in {}", "my birth year is {}"])  # fmt: skip
            if style == 1:
                cue = cue.replace("{}", "the {}")
            self.emit("DOB", "spoken", fill(cue, [(value, "DOB")]), f"style{style}")

    # -- network ------------------------------------------------------------------------

    def ips(self) -> None:
        rng = self.rng
        for i in range(24):
            a = rng.choice([8, 23, 45, 52, 81, 91, 104, 141, 172, 185, 192, 203, 212, 10])
            ip = f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            ctx = rng.choice(["my IP is {}", "client {} connected", "the router is at {}", "connecting from {}",
                              "request from {} was blocked", "peer={} dropped"])  # fmt: skip
            u = fill(ctx, [(ip, "IP")])
            if i % 5 == 0:
                u.add(":" + str(rng.randint(1024, 65000)))
            self.emit("IP", "written", u)
        for i in range(18):
            groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
            groups[0] = rng.choice(["2001", "2a02", "2607", "2a00", "2c0f"])
            full = ":".join(groups)
            short = ":".join(groups[:3]) + "::" + ":".join(groups[6:])
            value = [full, short, full.upper()][i % 3]
            ctx = rng.choice(
                ["my IPv6 address is {}", "peer {} left", "from {} at 10:42", "client={}"]
            )
            self.emit("IP", "written", fill(ctx, [(value, "IP")]), "v6")
        for _ in range(6):
            octets = [
                rng.randint(11, 223),
                rng.randint(0, 255),
                rng.randint(0, 255),
                rng.randint(1, 254),
            ]
            value = " dot ".join(" ".join(DIGIT_WORDS[int(c)] for c in str(o)) for o in octets)
            self.emit("IP", "spoken", fill("my IP address is {}", [(value, "IP")]))

    # -- places -------------------------------------------------------------------------

    def addresses(self) -> None:
        rng = self.rng
        ctx = ["I live at {}", "my address is {}", "ship it to {}", "send the card to {}", "we moved to {}",
               "the delivery address is {}", "it's {}", "deliver to {} please"]  # fmt: skip
        for i in range(48):
            num = rng.choice(
                [str(rng.randint(1, 9999)), f"{rng.randint(1, 300)}B", f"{rng.randint(1, 99)}"]
            )
            street = f"{rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
            style = i % 6
            if style == 0:
                value = f"{num} {street}"
            elif style == 1:
                value = f"{num} {street} {rng.choice(['NW', 'SE', 'North', 'East'])}"
            elif style == 2:
                value = f"{num} {street}, {rng.choice(['Apt', 'Unit', 'Suite', 'Flat'])} {rng.randint(1, 40)}{rng.choice(['', 'B', 'C'])}"
            elif style == 3:
                value = f"Flat {rng.randint(1, 20)}, {num} {street}"
            elif style == 4:
                value = f"{num} {street}".lower()
            else:
                value = f"{num} {street}"
            u = fill(rng.choice(ctx), [(value, "ADDRESS")])
            if style == 5:
                u.add(f", {rng.choice(CITIES)}")
            self.emit("ADDRESS", "written", capitalise(u, rng), f"style{style}")
        others = [f"Hauptstraße {rng.randint(1, 200)}", f"Bahnhofstrasse {rng.randint(1, 90)}",
                  f"{rng.randint(1, 99)} rue de Rivoli", f"Via Roma {rng.randint(1, 99)}",
                  f"Calle Mayor {rng.randint(1, 99)}", f"PO Box {rng.randint(10, 9999)}",
                  f"P.O. Box {rng.randint(10, 999)}"]  # fmt: skip
        for value in others:
            self.emit("ADDRESS", "written", fill(rng.choice(ctx), [(value, "ADDRESS")]), "intl")
        for i in range(20):
            n = rng.randint(2, 999)
            said = [self.two_digit(f"{n:02d}") if n < 100 else self.say_digits(str(n), pauses=False, repeats=False),
                    " ".join(DIGIT_WORDS[int(c)] for c in str(n))][i % 2]  # fmt: skip
            street = f"{rng.choice(STREETS).lower()} {rng.choice(['street', 'avenue', 'road', 'lane', 'drive', 'close'])}"
            value = f"{said} {street}"
            self.emit("ADDRESS", "spoken", fill(rng.choice(ctx), [(value, "ADDRESS")]))

    def uk_postcode(self) -> str:
        rng = self.rng
        area = rng.choice(
            ["SW1A", "EC1A", "M1", "B33", "CR2", "DN55", "W1A", "LS1", "G2", "BS8", "NW1", "E14"]
        )
        return f"{area} {rng.randint(0, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"

    def postcodes(self) -> None:
        rng = self.rng
        for i in range(48):
            style = i % 8
            if style == 0:
                u = fill(
                    rng.choice(["my postcode is {}", "post code {}", "postcode: {}"]),
                    [(self.uk_postcode(), "POSTCODE")],
                )
            elif style == 1:
                u = fill(
                    rng.choice(["my zip code is {}", "zip {}", "the zip is {}", "ZIP code: {}"]),
                    [(str(rng.randint(10000, 99999)), "POSTCODE")],
                )
            elif style == 2:
                zipc = f"{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}"
                u = fill("zip code {} please", [(zipc, "POSTCODE")])
            elif style == 3:
                addr = f"{rng.randint(1, 999)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
                u = fill(
                    "I live at {}, " + rng.choice(CITIES) + ", " + rng.choice(STATES) + " {}",
                    [(addr, "ADDRESS"), (str(rng.randint(10000, 99999)), "POSTCODE")],
                )
            elif style == 4:
                addr = f"{rng.randint(1, 200)} {rng.choice(STREETS)} {rng.choice(['Road', 'Street', 'Lane'])}"
                u = fill(
                    "my address is {}, " + rng.choice(CITIES) + " {}",
                    [(addr, "ADDRESS"), (self.uk_postcode(), "POSTCODE")],
                )
            elif style == 5:
                u = fill("my post code is {}", [(self.uk_postcode().lower(), "POSTCODE")])
            elif style == 6:
                code = (
                    rng.choice("ABCEGHJKLMNPRSTVXY")
                    + str(rng.randint(0, 9))
                    + rng.choice(string.ascii_uppercase)
                    + " "
                    + str(rng.randint(0, 9))
                    + rng.choice(string.ascii_uppercase)
                    + str(rng.randint(0, 9))
                )
                u = fill("my postal code is {}", [(code, "POSTCODE")])
            else:
                u = fill("we're in {} now", [(self.uk_postcode(), "POSTCODE")])
            self.emit("POSTCODE", "written", capitalise(u, rng), f"style{style}")
        for i in range(16):
            if i % 2:
                value = self.say_digits(
                    str(rng.randint(10000, 99999)), pauses=False, repeats=False, zero="oh"
                )
                u = fill(
                    rng.choice(["my zip code is {}", "zip is {}", "the zip code is {}"]),
                    [(value, "POSTCODE")],
                )
            else:
                value = self.spell(self.uk_postcode().replace(" ", ""), sep=" ")
                u = fill(
                    rng.choice(["my postcode is {}", "the post code is {}"]), [(value, "POSTCODE")]
                )
            self.emit("POSTCODE", "spoken", u)

    # -- names --------------------------------------------------------------------------

    def names(self) -> None:
        rng = self.rng
        for i in range(96):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            full = f"{first} {last}"
            lower = rng.random() < 0.35
            f_ = first.lower() if lower else first
            full_ = full.lower() if lower else full
            style = i % 16
            if style == 0:
                u = fill("my name is {}", [(full_, "NAME")])
            elif style == 1:
                u = fill("my name's {} and I'm calling about my bill", [(f_, "NAME")])
            elif style == 2:
                u = fill("hi, this is {} calling from Acme", [(f_, "NAME")])
            elif style == 3:
                u = fill("this is {} calling about my order", [(full_, "NAME")])
            elif style == 4:
                u = fill("you're speaking with {}, how can I help?", [(f_, "NAME")])
            elif style == 5:
                u = fill("you are speaking with agent {}", [(f_, "NAME")])
            elif style == 6:
                u = fill(
                    rng.choice(
                        [
                            "Mr. {}",
                            "Mrs {} is here",
                            "Ms. {}, your table is ready",
                            "Dr. {} will call you",
                        ]
                    ),
                    [(last, "NAME")],
                )
            elif style == 7:
                u = fill(
                    "my last name is {}, spelled {}",
                    [(last, "NAME"), (self.spell(last, sep=rng.choice([" ", "-", ", "])), "NAME")],
                )
            elif style == 8:
                u = fill(
                    "first name {}, last name {}",
                    [(f_, "NAME"), (last.lower() if lower else last, "NAME")],
                )
            elif style == 9:
                u = fill("{} speaking, how can I help you?", [(first, "NAME")])
            elif style == 10:
                u = fill("Hi, this is {}.", [(first, "NAME")])
            elif style == 11:
                u = fill("I'm {}, calling about the refund", [(first, "NAME")])
            elif style == 12:
                u = fill("the name on the account is {}", [(full_, "NAME")])
            elif style == 13:
                u = fill("can I speak to {} please", [(f_, "NAME")])
            elif style == 14:
                u = fill("it's spelled {}", [(self.spell(first, sep=" "), "NAME")])
            else:
                u = fill(
                    "my name is {}, that's {}", [(f_, "NAME"), (self.spell(first, sep=" "), "NAME")]
                )
            self.emit(
                "NAME", "spoken" if lower or style in (7, 14, 15) else "written", u, f"style{style}"
            )

    # -- accounts and secrets ----------------------------------------------------------

    def accounts(self) -> None:
        rng = self.rng
        for i in range(56):
            style = i % 14
            form = "written"
            if style == 0:
                u = fill("my account number is {}", [(self.digits(8), "ACCOUNT")])
            elif style == 1:
                u = fill(
                    "account number {}",
                    [(f"{self.digits(4)} {self.digits(4)} {self.digits(2)}", "ACCOUNT")],
                )
            elif style == 2:
                u = fill("my order number is {}", [(self.digits(5), "ACCOUNT")])
            elif style == 3:
                form = "spoken"
                u = fill(
                    "my order number is {}",
                    [(self.spell("AB" + self.digits(5), sep=" "), "ACCOUNT")],
                )
            elif style == 4:
                u = fill("booking reference {}", [(self.code(6), "ACCOUNT")])
            elif style == 5:
                u = fill(
                    "the confirmation number is {}", [(self.code(3) + self.digits(3), "ACCOUNT")]
                )
            elif style == 6:
                u = fill("member ID {}", [(self.digits(5), "ACCOUNT")])
            elif style == 7:
                u = fill("policy number {}", [(f"POL-{self.digits(6)}", "ACCOUNT")])
            elif style == 8:
                u = fill(
                    "sort code {}",
                    [(f"{self.digits(2)}-{self.digits(2)}-{self.digits(2)}", "ACCOUNT")],
                )
            elif style == 9:
                u = fill("the card ending in {}", [(self.digits(4), "ACCOUNT")])
            elif style == 10:
                form = "spoken"
                u = fill(
                    "account number is {}",
                    [(self.say_digits(self.digits(6), pauses=False), "ACCOUNT")],
                )
            elif style == 11:
                form = "spoken"
                u = fill(
                    "order number {}",
                    [(self.say_digits(self.digits(5), pauses=False, repeats=False), "ACCOUNT")],
                )
            elif style == 12:
                form = "spoken"
                u = fill(
                    "reference number is {}",
                    [(self.spell("XY" + self.digits(4), sep=" "), "ACCOUNT")],
                )
            else:
                u = fill(
                    "my customer ID is {}", [(f"C-{self.digits(4)}-{self.digits(2)}", "ACCOUNT")]
                )
            self.emit("ACCOUNT", form, capitalise(u, rng), f"style{style}")

    def secrets(self) -> None:
        rng = self.rng
        words = ["hunter", "dragon", "sunshine", "monkey", "falcon", "kitten", "purple"]
        for i in range(70):
            style = i % 14
            form = "written"
            if style == 0:
                form = "spoken"
                u = fill(
                    "my pin is {}", [(self.say_digits(self.digits(4), pauses=False), "SECRET")]
                )
            elif style == 1:
                u = fill(
                    rng.choice(["pin {}", "my PIN is {}", "PIN: {}"]), [(self.digits(4), "SECRET")]
                )
            elif style == 2:
                u = fill("the code is {}", [(self.digits(6), "SECRET")])
            elif style == 3:
                u = fill("your verification code is {}", [(" ".join(self.digits(6)), "SECRET")])
            elif style == 4:
                form = "spoken"
                u = fill(
                    "the code is {}",
                    [(self.say_digits(self.digits(6), pauses=False, repeats=False), "SECRET")],
                )
            elif style == 5:
                u = fill("one-time passcode {}", [(self.digits(6), "SECRET")])
            elif style == 6:
                u = fill("the security code on the back is {}", [(self.digits(3), "SECRET")])
            elif style == 7:
                u = fill(
                    "my password is {}",
                    [(rng.choice(words) + self.digits(rng.randint(1, 3)), "SECRET")],
                )
            elif style == 8:
                u = fill(
                    "password: {}",
                    [
                        (
                            rng.choice(
                                [
                                    "Tr0ub4dor&3",
                                    "blue-moon-77",
                                    "S3cure!pass",
                                    "qwerty123",
                                    "Pa55word",
                                ]
                            ),
                            "SECRET",
                        )
                    ],
                )
            elif style == 9:
                form = "spoken"
                w = rng.choice(words)
                u = fill(
                    "my password is {}",
                    [(f"{w} {' '.join(DIGIT_WORDS[int(c)] for c in self.digits(2))}", "SECRET")],
                )
            elif style == 10:
                u = fill(
                    "api_key={}",
                    [
                        (
                            "sk_live_"
                            + "".join(
                                rng.choice(string.ascii_letters + string.digits) for _ in range(24)
                            ),
                            "SECRET",
                        )
                    ],
                )
            elif style == 11:
                tok = (
                    "eyJ"
                    + "".join(rng.choice(string.ascii_letters) for _ in range(20))
                    + "."
                    + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(30))
                    + "."
                    + "".join(
                        rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(20)
                    )
                )
                u = fill("Authorization: Bearer {}", [(tok, "SECRET")])
            elif style == 12:
                u = fill(
                    "retrying with token={} failed",
                    [
                        (
                            "".join(
                                rng.choice(string.ascii_uppercase + string.digits)
                                for _ in range(16)
                            ),
                            "SECRET",
                        )
                    ],
                )
            else:
                form = "spoken"
                u = fill(
                    "cvv is {}",
                    [(self.say_digits(self.digits(3), pauses=False, repeats=False), "SECRET")],
                )
            self.emit("SECRET", form, capitalise(u, rng), f"style{style}")

    def urls(self) -> None:
        rng = self.rng
        hosts = [
            "api.example.com",
            "bot.example.com",
            "127.0.0.1:8765",
            "voice.acme.io",
            "localhost:8080",
        ]
        for i in range(48):
            host = rng.choice(hosts)
            scheme = rng.choice(["https", "wss", "ws", "http"])
            first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower().replace("'", "")
            tok = "".join(
                rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(12, 32))
            )
            style = i % 8
            u = Utt()
            if style == 0:
                u.add(f"{scheme}://{host}/v1/calls?email=").pii_(
                    f"{first}.{last}%40example.com", "EMAIL"
                ).add("&card=").pii_(self.card_number("4", 16), "CARD").add("&token=").pii_(
                    tok, "SECRET"
                )
            elif style == 1:
                u.add(f"{scheme}://{first}:").pii_(tok, "SECRET").add(f"@{host}/stream")
            elif style == 2:
                u.add(f"{scheme}://{host}/twilio?api_key=").pii_(tok, "SECRET").add("&lang=en")
            elif style == 3:
                u.add(f"target {scheme}://{host}/cb?code=").pii_(tok, "SECRET").add(
                    "&state=xyz failed"
                )
            elif style == 4:
                u.add(f"{scheme}://{host}/stream?phone=").pii_(
                    "%2B1415555" + f"{rng.randint(1000, 9999)}", "PHONE"
                )
            elif style == 5:
                u.add(f"connecting to {scheme}://{host}/ws?session=").pii_(tok, "SECRET").add(
                    " now"
                )
            elif style == 6:
                u.add(f"{scheme}://{host}/media?X-Amz-Signature=").pii_(tok.lower(), "SECRET").add(
                    "&X-Amz-Expires=300"
                )
            else:
                u.add(f"{scheme}://{host}/v1/users/").pii_(
                    f"{first}.{last}@example.com", "EMAIL"
                ).add("/calls")
            self.emit("URL", "written", u, f"style{style}")

    # -- mixed --------------------------------------------------------------------------

    def mixed(self) -> None:
        rng = self.rng
        for _ in range(30):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            num = self.phone_number("US")
            phone = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
            u = (
                Utt()
                .add("Hi, my name is ")
                .pii_(f"{first} {last}", "NAME")
                .add(" and my number is ")
                .pii_(phone, "PHONE")
                .add(". I need 2 tickets for flight 370 at 5:30.")
            )
            self.emit("MIXED", "written", u)
        for _ in range(20):
            y = rng.randint(1940, 2005)
            u = (
                Utt()
                .add("ok my pin is ")
                .pii_(
                    self.say_digits(
                        "".join(rng.choice(string.digits) for _ in range(4)), pauses=False
                    ),
                    "SECRET",
                )
                .add(" and I was born in ")
                .pii_(self.say_year(y), "DOB")
                .add(", press one to confirm")
            )
            self.emit("MIXED", "spoken", u)

    # -- hard negatives -----------------------------------------------------------------

    def negatives(self) -> None:
        rng = self.rng
        r = rng.randint
        tmpl = [
            lambda: f"the meeting is at {r(1, 12)}:{r(0, 5)}{r(0, 9)}",
            lambda: f"see you at half past {rng.choice(['nine', 'ten', 'two', 'four'])}",
            lambda: (
                f"can we do {rng.choice(['five thirty', 'six fifteen', 'ten forty five', 'noon'])} tomorrow?"
            ),
            lambda: (
                f"the train leaves at {r(1, 12)}:{r(10, 59)} {rng.choice(['am', 'pm'])} from platform {r(1, 14)}"
            ),
            lambda: (
                f"we're open from {rng.choice(['nine', '9'])} to {rng.choice(['five', '5', 'five thirty'])}"
            ),
            lambda: f"it costs ${r(1, 999)}.{r(10, 99)}",
            lambda: (
                f"that'll be {rng.choice(['nineteen ninety nine', 'twenty four fifty', 'three hundred dollars', 'two hundred and fifty pounds'])}"
            ),
            lambda: f"the total is ${r(1, 9)},{r(100, 999)}.{r(10, 99)} including tax",
            lambda: f"the house sold for ${r(1, 9)},{r(100, 999)},{r(100, 999)}",
            lambda: f"about €{r(10, 999)} or £{r(1, 99)}.{r(10, 99)}",
            lambda: (
                f"I'd like {rng.choice(['two', 'three', '2', '4'])} tickets for flight {r(100, 999)}"
            ),
            lambda: (
                f"flight {rng.choice(['BA', 'UA', 'LH', 'AF', 'DL'])} {r(100, 2999)} is delayed"
            ),
            lambda: f"is flight {rng.choice(['BA', 'UA', 'LH'])}{r(100, 2999)} on time?",
            lambda: f"your order {r(1000, 99999)} has shipped",
            lambda: f"order {r(100, 99999)} is out for delivery",
            lambda: "what's the order status?",
            lambda: f"gate {rng.choice('ABCD')}{r(1, 40)}, seat {r(1, 40)}{rng.choice('ABCDEF')}",
            lambda: f"room {r(100, 1299)} on floor {r(1, 12)}",
            lambda: f"in {r(1990, 2025)} we moved",
            lambda: (
                f"back in {rng.choice(['nineteen ninety nine', 'twenty twenty', 'two thousand and eight'])} it was different"
            ),
            lambda: f"the {rng.choice(['1990s', '80s', '2010s'])} were great",
            lambda: f"the {r(2010, 2023)}-{r(2011, 2024)} season",
            lambda: f"press {rng.choice(['one', 'two', 'three', '1', '2', 'nine'])} to continue",
            lambda: f"press {r(1, 9)} for billing or {r(1, 9)} for support",
            lambda: "say one or two",
            lambda: f"option {rng.choice(['three', 'four', '3'])} please",
            lambda: f"{r(1, 99)}% of callers hang up",
            lambda: f"{r(1, 99)}.{r(1, 9)} percent interest",
            lambda: f"{rng.choice(['fifty', 'twenty', 'ten'])} percent off",
            lambda: (
                f"turn latency {r(100, 900)}.{r(0, 9)} ms, pesq {r(1, 4)}.{r(0, 9)}, stoi 0.{r(80, 99)}"
            ),
            lambda: f"version {r(1, 9)}.{r(0, 40)}.{r(0, 20)} build {r(1, 999)}",
            lambda: (
                f"HTTP/1.1 {rng.choice(['200 OK', '404 Not Found', '503 Service Unavailable'])}"
            ),
            lambda: f"the error code is {rng.choice(['500', '404', 'E42'])}",
            lambda: f"status code {rng.choice(['200', '301', '429'])}",
            lambda: f"ws://127.0.0.1:{r(1024, 65000)}/{rng.choice(['stream', 'twilio', 'raw'])}",
            lambda: f"http://localhost:{r(1024, 65000)}/health",
            lambda: f"listening on [::1]:{r(1024, 65000)} and 0.0.0.0:{r(1024, 65000)}",
            lambda: f"https://docs.example.com/guide?page={r(1, 30)}&lang=en",
            lambda: f"run {''.join(rng.choice('0123456789abcdef') for _ in range(32))}",
            lambda: f"trace_id={''.join(rng.choice('0123456789abcdef') for _ in range(32))}",
            lambda: rng.choice(
                [
                    "my name is on the list",
                    "the code is broken",
                    "this is great",
                    "this is a test call",
                    "speaking of which",
                    "the password reset link was sent",
                    "pin the post to the top",
                    "open the account settings",
                    "I forgot my password",
                    "what's your name?",
                    "the account is closed",
                    "zip line tours",
                    "I was born ready",
                    "born in the USA",
                    "the birthday party is on Saturday",
                    "I'm fine thanks",
                    "I'm calling about my bill",
                    "this is the billing department",
                    "you're speaking with customer service",
                    "Main Street is closed today",
                    "two main reasons",
                    "it's a one way street",
                    "set up a 3 way call",
                    "can I speak to a manager",
                    "I'd like to speak with someone",
                    "the name field is required",
                    "your password must be at least 8 characters",
                    "enter the promo code at checkout",
                    "the dress code is casual",
                    "I live in a small town",
                    "my address changed last year",
                    "what's the zip code for downtown?",
                    "I'll email you later",
                    "look at the screen",
                    "meet me at the lobby",
                    "a dot at the end",
                ]
            ),
            lambda: f"drive {r(2, 30)} miles down the road and turn left",
            lambda: f"it's {rng.choice(['one', 'two', 'three', '5'])} blocks from Main Street",
            lambda: f"take exit {r(1, 60)} toward {rng.choice(STREETS)} Avenue",
            lambda: (
                f"I need {rng.choice(['two', 'three', 'four'])} tickets at {rng.choice(['eight', 'seven'])} for {rng.choice(['five', 'six'])} people"
            ),
            lambda: f"the time is {rng.choice(['five', 'six', 'nine'])} o'clock",
            lambda: rng.choice(
                [
                    "one two three",
                    "one, two, three, go",
                    "a one in a million chance",
                    "top ten songs",
                    "twenty twenty four",
                    "count to five",
                    "I'm number one",
                ]
            ),
            lambda: (
                f"the appointment is on {rng.choice(MONTHS)} {r(1, 28)}{rng.choice(['', 'th'])}, {r(2024, 2027)}"
            ),
            lambda: f"the invoice is dated {r(1, 12):02d}/{r(1, 28):02d}/{r(2020, 2026)}",
            lambda: f"due {r(2024, 2027)}-{r(1, 12):02d}-{r(1, 28):02d}",
            lambda: (
                f"started {r(2024, 2026)}-{r(1, 12):02d}-{r(1, 28):02d} at {r(10, 23)}:{r(10, 59)}:{r(10, 59)}"
            ),
            lambda: (
                f"I have an iPhone {r(8, 16)} and a {rng.choice(['PS5', 'Windows 11 laptop', '4K TV', 'Boeing 737 model'])}"
            ),
            lambda: f"{r(2, 12)} kg of rice and {r(100, 900)} ml of milk",
            lambda: f"it weighs {r(1, 9)}.{r(1, 9)} kg",
            lambda: f"about {r(2, 9)},{r(100, 999)} people attended",
            lambda: f"route {r(1, 99)} then highway {r(1, 299)}",
            lambda: f"call me back at {rng.choice(['five', 'noon', '3'])}",
            lambda: (
                f"{rng.choice(['the Main Street branch', 'park at the back', 'I am on the highway', 'turn left on Oak'])}"
            ),
            lambda: f"chapter {r(1, 30)}, page {r(1, 400)}",
            lambda: f"the score was {r(0, 5)} to {r(0, 5)}",
            lambda: f"the temperature is {r(-5, 35)} degrees",
            lambda: f"batch {r(1, 99)} of {r(100, 999)} processed in {r(1, 99)}.{r(0, 9)} s",
            lambda: f"queue depth {r(1, 999)}, p99 {r(10, 999)} ms",
            lambda: f"it's {r(1, 30)} minutes away",
        ]
        seen: set[str] = set()
        while len([x for x in self.records if x["category"] == "NEGATIVE"]) < 520:
            text = rng.choice(tmpl)()
            if text in seen:
                continue
            seen.add(text)
            u = capitalise(Utt().add(text), rng)
            spoken = any(
                w in text
                for w in ("one", "two", "three", "five", "nine", "twenty", "thirty", "hundred")
            )
            self.emit("NEGATIVE", "spoken" if spoken else "written", u)


def generate(seed: int = SEED) -> list[dict[str, object]]:
    """Every record, in a fixed order, from ``seed``."""
    g = Gen(seed)
    g.phones()
    g.cards()
    g.ibans()
    g.emails()
    g.ssns()
    g.ninos()
    g.dobs()
    g.ips()
    g.addresses()
    g.postcodes()
    g.names()
    g.accounts()
    g.secrets()
    g.urls()
    g.mixed()
    g.negatives()
    return g.records


def render(records: list[dict[str, object]]) -> str:
    header = {"generator": "tests/redact/corpus/generate.py", "seed": SEED,
              "phonenumbers": phonenumbers.__version__}  # fmt: skip
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps(r, ensure_ascii=False) for r in records]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--check", action="store_true", help="compare with the committed file, write nothing"
    )
    args = ap.parse_args()
    text = render(generate())
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print(
            "generated.jsonl is up to date"
            if same
            else "generated.jsonl differs from the generator"
        )
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    records = text.count("\n") - 1
    print(f"wrote {records} utterances to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
