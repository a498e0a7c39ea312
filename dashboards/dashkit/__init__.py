"""Shared plumbing of the dashboard pages: sign-in, store access, filters, empty states."""
