"""OAuth for installed CRMs: the install flows and the access tokens workers use.

One job per module: `config` (which app credentials and endpoints), `pkce`
(state and code verifiers), `responses` (what the token endpoints answer),
`endpoint` (one form POST and what its failures mean), `flows` (authorize
URLs, code exchange, revocation) and `tokens` (refreshing under a Redis lock
so every worker shares one token per tenant).
"""
