# One image for every orderflow process; docker-compose.yml picks the command.
# The base is a build argument so a machine that cannot pull it can build on a local stand-in
# (scripts/compose-check: PYTHON_IMAGE=...); users get the public image.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY worker ./worker
COPY tasks ./tasks
# The K-Series stand-in: compose runs it from this image. bench/ and tests/ stay out.
COPY sandbox ./sandbox
RUN pip install . && useradd --system --uid 10001 orderflow
USER orderflow
EXPOSE 8000
CMD ["orderflow", "api", "--host", "0.0.0.0", "--port", "8000"]
