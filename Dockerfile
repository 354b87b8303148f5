# The API and the worker (same image, different command); see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# WeasyPrint (letters as PDF, activities/letter_pdf.py) needs Pango and HarfBuzz's subsetter from the system,
# and the letters are set in Liberation Sans (metrically Arial's twin).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-liberation \
    && rm -rf /var/lib/apt/lists/*
# The locked dependencies first (exact versions, hashes checked), so that the layer is reused until the
# lock changes; regenerate it with `make lock`.
COPY requirements/runtime.lock /app/requirements/runtime.lock
RUN pip install --require-hashes -r requirements/runtime.lock
COPY . /app
# Editable, so that the code runs from /app: it reads templates/, localities/ and db/migrations/
# beside it (core.config.PROJECT_ROOT), which a site-packages install would not carry. --no-deps: the
# dependencies are the lock's, nothing is resolved again; `pip check` fails if the lock lacks one.
RUN pip install --no-deps -e . \
    && pip check \
    && useradd --system --no-create-home --home-dir /app app \
    && mkdir -p /app/var \
    && chown app /app/var

USER app
EXPOSE 8000
# The worker overrides this with `python worker.py`.
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
