FROM python:3.12-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY metersim ./metersim
# With pyarrow: the Kubernetes Job (deploy/kubernetes/) writes its ground truth as Parquet.
RUN pip install --no-cache-dir '.[parquet]'
COPY configs ./configs
COPY schemas ./schemas
# A fixed non-root user (numeric, so that Kubernetes' runAsNonRoot can check it; job.yaml runs as the
# same uid), with a writable out/ for the shipped scenarios that write files there.
RUN mkdir -p /app/out && chown 10001:10001 /app/out
USER 10001:10001

ENTRYPOINT ["metersim"]
CMD ["run", "configs/docker.yaml"]
