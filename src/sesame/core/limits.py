"""Every limit the forward path applies to a message a stranger wrote, and where it comes from.

A sender controls every byte Sesame reads, so each step over the header block has a budget:
parsing is linear and stops materializing fields at these limits; what lies beyond them is
dropped (essential fields excepted) and recorded as a defect, never a crash or a stall. Most
numbers are the limits Gmail enforces on incoming mail ("Gmail message header limits", Google
Workspace Admin Help, answer 14016360): forwarded mail mostly lands there, and a message Gmail
refuses is a bounce counted against the operator's SES account. Where a source says "KB", the
smaller reading (1,000 bytes) is used.
"""

from __future__ import annotations

# RFC 5322 section 2.1.1: a line is at most 998 characters, without its CRLF. SES refuses
# longer header lines, and so does every strict receiver.
MAX_LINE = 998
# RFC 5322 section 2.1.1: lines SHOULD be at most 78 characters; what Sesame writes itself
# (re-encoded and re-folded fields) keeps to that.
FOLD_AT = 78

# Gmail: "All headers in a single message: 500KB". The header block Sesame sends stays under it;
# fields read past it are dropped unless they are essential (see ESSENTIAL below). Reading checks
# it where a field starts: a field that starts before it is read to its end, never cut at one
# of its line breaks (which could shorten its last address into another, valid one).
MAX_HEADER_BLOCK = 500_000
# How far Sesame looks for the end of the header block: four times Gmail's total. A message
# whose header block has not ended by then is not forwarded (see the policy's
# "headers-too-large"): no receiver would take it, and scanning further costs time per byte.
MAX_HEADER_SCAN = 2_000_000
# Gmail: "Number of headers per message: 5000".
MAX_FIELDS = 5_000
# Gmail: "Any single header: 32KB (value after the colon)", except To, Cc and References,
# which count only toward the total: one copy of them is read up to MAX_HEADER_BLOCK. A larger
# field is dropped (Subject, From, Reply-To, To, Cc, References: cut instead).
MAX_FIELD_VALUE = 32_000
UNBOUNDED_FIELDS = frozenset({"to", "cc", "references"})
# Gmail: "Subject: header: 998 characters (after the colon)". A longer Subject is shortened.
MAX_SUBJECT = 998
# Gmail: "Message-ID: header: 500 characters". A longer one is dropped (SES adds its own).
MAX_MESSAGE_ID = 500
# Fields found past MAX_HEADER_BLOCK or MAX_FIELDS that are still looked for and kept: without
# them the message would render differently or lose its author, subject or threading.
ESSENTIAL = frozenset(
    {
        "from", "reply-to", "to", "cc", "subject", "date", "message-id", "in-reply-to",
        "references", "mime-version", "content-type", "content-transfer-encoding",
        "content-disposition",
    }
)
# How many copies of each essential field are collected past the limits (To and Cc are merged;
# of the others the rewrite keeps the first it can send); later copies are dropped and recorded
# ("too-many-copies"). Each is read whole, as within the limits.
MAX_ESSENTIAL_REPEATS = 50

# Addresses parsed in one address field. Postfix caps address tokens per header at 10,240
# (header_address_token_limit); a field with more than 1,000 addresses is a mailing list's
# expansion or an attack, and the rest is dropped with a defect. Counted per field as received:
# each copy of To or Cc keeps its first 1,000 when the copies are merged.
MAX_ADDRESSES_PER_FIELD = 1_000
# Tokens (words, dots and other specials, quoted strings, comments, runs of white space) of one
# mailbox. RFC 5321 section 4.5.3.1 caps a path at 256 octets and a local part at 64, so the
# address of any deliverable mailbox is at most 256 tokens even written one octet a token; the
# other 256 leave room for a display name of a hundred words and more (Sesame shows 64
# characters of it). Past this, the mailbox is unusable ("mailbox-too-long") and the rest of it
# is walked over at C speed to the next comma: one "address" of hundreds of thousands of folded
# words costs what its first 512 tokens cost, and the addresses after it are still read.
MAX_MAILBOX_TOKENS = 512
# Tokens (as above) the address reader reads in one message, all its address fields and copies
# together. Postfix bounds the same work per header field (postconf(5),
# header_address_token_limit, default 10,240 tokens: "Information that exceeds the limit is
# discarded"); per field is not enough here, because up to MAX_ESSENTIAL_REPEATS copies of To
# and of Cc are read, each up to MAX_ADDRESSES_PER_FIELD mailboxes of up to MAX_MAILBOX_TOKENS
# tokens: 1,000 mailboxes of 500 tokens in three To copies cost a second of Python. How the
# number was chosen: the real mail in tests/fixtures/realworld uses at most 61 address tokens
# in a whole message and 17 in one mailbox (display name included); Google Workspace takes at
# most 2,000 recipients in one message ("Gmail sending limits in Google Workspace"), so a
# legitimate message lists at most about 2,000 x 20 = 40,000 tokens. 100,000 is two and a half
# times that and about 0.1 s of Python; it is also more than any one From can hold
# (MAX_FIELD_VALUE octets, a token at least one octet), so the From, read first, is never cut.
# Past it, the rest of the field being read is not read, nor the address fields after it
# ("address-tokens-exhausted"); each is written again from the addresses read before the cut.
MAX_ADDRESS_TOKENS_PER_MESSAGE = 100_000
# Comment nesting in an address field. RFC 5322 sets no limit; CPython's recursive parser dies
# (RecursionError) a few hundred levels down. Sesame's parser is iterative; past 32 levels a
# field is treated as unparseable, because readers downstream may recurse where Sesame does not.
MAX_COMMENT_DEPTH = 32
# RFC 5321 section 4.5.3.1: local part 64 octets, domain 255, a path 256 with its brackets.
MAX_LOCAL_PART = 64
MAX_DOMAIN = 253
MAX_ADDRESS = 254

# A display name Sesame writes into From or Reply-To is cut at this many characters.
MAX_DISPLAY_NAME = 64
# The original header block quoted in a bounce (text/rfc822-headers) is cut at this size.
MAX_DSN_QUOTE = 32_000
