"""The agency reply journey: an agency answers an information request from the link in its email,
without an account. `sessions` exchanges links for sessions, `forms` checks the answer, `uploads`
checks and keeps its files, `views` renders the pages; the routes are in `api.routes.agency`.

Kept free of FastAPI routing: the routes call these (database work in a thread) and turn what they
return into pages. Nothing here writes a token, a token's hash or personal data into the audit log.
"""
