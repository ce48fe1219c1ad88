# One image for both services: docker-compose.yml picks the entrypoint
# (promcast-exporter or promcast-forecaster).
FROM python:3.11-slim

WORKDIR /src
# Only what the distribution installs: pyproject.toml lists the two packages explicitly.
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY forecaster ./forecaster
RUN pip install --no-cache-dir . && rm -rf /src

WORKDIR /
USER nobody
EXPOSE 9184 9185
ENTRYPOINT ["promcast-exporter"]
CMD ["--web.listen-address=0.0.0.0:9184"]
