"""The applicant's own case page, reached without an account from the link in each emailed letter
(issue 12, section 2): the link and its session (sessions), and the page's views and forms (views)."""
