# The API and the worker (same image, different command); see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
# Editable, so that the code runs from /app: it reads templates/, localities/ and db/migrations/
# beside it (core.config.PROJECT_ROOT), which a site-packages install would not carry.
RUN pip install -e . \
    && useradd --system --no-create-home --home-dir /app app \
    && mkdir -p /app/var \
    && chown app /app/var

USER app
EXPOSE 8000
# The worker overrides this with `python worker.py`.
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
