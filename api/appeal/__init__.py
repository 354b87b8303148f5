"""The appeal journey for people without an account: the policy's appeal contact names the chair from the
link in their email, and the named chair reads the bundle and records their decisions from theirs.
`sessions` exchanges links for sessions, `forms` checks what is posted, `views` loads the bundle and renders
the pages, `visits` is the routes' dependency; the routes are in `api.routes.appeal_pages`.

The security design is the agency links' (api.agency; what both share is in api.links and api.link_pages):
random tokens stored only as hashes, bound to one appeal (and a chair's to one chair), expiring and
revocable, exchanged for a session cookie on use. Nothing here writes a token, a token's hash or personal
data into the audit log.
"""
