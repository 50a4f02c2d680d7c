FROM python:3.12-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY metersim ./metersim
RUN pip install --no-cache-dir .
COPY configs ./configs
COPY schemas ./schemas

ENTRYPOINT ["metersim"]
CMD ["run", "configs/docker.yaml"]
