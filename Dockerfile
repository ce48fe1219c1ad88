# One image for both services: docker-compose.yml picks the entrypoint
# (promcast-exporter or promcast-forecaster).
#
# Reproducible: the base image is pinned by digest, and every Python package (the extras the
# shipped configs use, `models` and `focus`, and the build tools) comes from requirements.lock
# with its hashes (`make lock` regenerates it from pyproject.toml).
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /src
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
# Only what the distribution installs: pyproject.toml lists the two packages explicitly. Its
# dependencies are all in the lock above, so nothing else is fetched.
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY forecaster ./forecaster
COPY common ./common
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && rm -rf /src

WORKDIR /
USER nobody
EXPOSE 9184 9185
ENTRYPOINT ["promcast-exporter"]
CMD ["--web.listen-address=0.0.0.0:9184"]
