"""Reading inbound mail (replies, bounces, auto-replies) from a mailbox or SendGrid Inbound Parse, as raw RFC 5322."""
