"""Ordinary English words that a cue-driven detector must not mistake for a value.

"my name is not important", "this is great", "the password is incorrect",
"2 blocks onto Main Street": after a cue, the next word is a name, a
password or a street only if it is not one of these.
"""

from __future__ import annotations


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: how word lists are written here."""
    return frozenset(text.split())


#: Function words and the usual continuations after a cue; never a name or a street.
STOP: frozenset[str] = word_set("""
a an the and or but so to of in on at by for from with without about as into onto over under
near than then that this these those there here is are was were be been being am do does did
done have has had would can could should might must shall not no yes also just only
still even very really too quite please thanks thank okay ok um uh er erm ah oh hmm like well
actually basically calling speaking talking my your his her its our their me you him them us
we they i it it's i'm im i've i'll i'd you're we're they're he's she's that's what's what which
who whom whose when where why how if because while again already now today tomorrow yesterday
tonight currently right sure sorry hi hello hey bye goodbye don't dont do not can't won't
down up out off through across along toward towards past around behind between after before
all any some every each both either neither none more most less few many much one's
someone somebody anyone anybody everyone everybody nobody noone people
""")

#: Words common enough that a capitalised one after a weak cue ("this is", "I'm") is not a name.
COMMON: frozenset[str] = STOP | word_set("""
great good fine nice lovely wonderful excellent fantastic amazing awesome perfect terrible
horrible awful bad worse worst best better ridiculous unacceptable frustrating annoying
confusing urgent important serious strange weird crazy insane interesting funny hard easy
simple difficult happy glad ready free busy available interested afraid worried concerned
confused tired sick new old first last next same different correct wrong true false
incorrect invalid expired locked blank empty missing required optional changed reset working
broken fixed correct done finished back home outside inside open closed late early
regarding concerning calling trying looking going getting having waiting hoping wondering
checking following asking phoning ringing writing speaking talking here there everyone
anyone someone nobody everybody somebody customer service support sales billing team help
desk department office company bank store shop agent representative manager supervisor
operator assistant bot robot computer machine system automated recording message voicemail
test testing call line phone number account order ticket booking reservation appointment
flight train bus hotel room car delivery package parcel payment refund balance bill invoice
card credit debit transfer issue problem question complaint request update information
thing things stuff something nothing everything anything way time day week month year
morning afternoon evening night monday tuesday wednesday thursday friday saturday sunday
january february march april june july august september october november december
america england britain london paris york english spanish french german canadian american
british world folks guys
mister miss missus sir madam ma'am dear mom mum dad wife husband son daughter friend
must need needs expires expired contains requires cannot can't isn't doesn't won't didn't wasn't
field policy strength change changes protected hint hints recovery requirements manager
entered typed saved stored sent shared
will see sees call calls called say says said tell told know knows want wants like likes get
gets got go goes went come comes came take takes took make makes made give gives gave think
thinks look looks help helps speak speaks talk talks ask asks wait waits arrive arrives left
leaves join joins joined be been
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
hundred thousand million blocks block miles mile minutes minute hours hour days weeks years
away walking driving field form box list screen page
""")


__all__ = ["COMMON", "STOP", "word_set"]
