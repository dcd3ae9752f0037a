"""The names of the exchange's key files in the data folder's ``keys/`` (see ``core/signing.py``).

Apart from the signing code so that a command checking that a data folder was initialised does
not import ``cryptography`` (about 30 ms) only for a file name."""

from __future__ import annotations

PRIVATE_KEY_FILE = "exchange-ed25519.pem"
PUBLIC_KEY_FILE = "exchange-ed25519.pub.pem"
