# openft images, one Dockerfile, two targets:
#
#   docker build --target control -t openft:control .   scheduler and migrations (no torch)
#   docker build --target full    -t openft:full .      API (chat serving, merged export) and GPU
#                                                        workers: the [gpu] extra (torch with CUDA
#                                                        from PyPI; needs the NVIDIA container
#                                                        toolkit on the host to see the GPUs)
#
# Every role is the same `openft` command (`openft api|scheduler|worker|db upgrade`), configured
# only through OPENFT_* environment variables (core/settings.py) and the AWS_* ones boto3 reads.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS source
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 openft && mkdir -p /data && chown openft /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY api ./api
COPY scheduler ./scheduler
COPY gpu_worker ./gpu_worker
COPY sdk ./sdk

FROM source AS control
RUN pip install .
USER openft
ENV OPENFT_DATA_DIR=/data OPENFT_HOST=0.0.0.0
EXPOSE 8000
ENTRYPOINT ["openft"]
CMD ["--help"]

FROM source AS full
RUN pip install ".[gpu]"
USER openft
ENV OPENFT_DATA_DIR=/data OPENFT_HOST=0.0.0.0
EXPOSE 8000
ENTRYPOINT ["openft"]
CMD ["--help"]
