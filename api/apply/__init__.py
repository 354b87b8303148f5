"""The online application (`/apply`): its drafts kept between pages, its questions and their checks."""
