# The OCPP 1.6J WebSocket gateway (python -m chalicelib.ocpp_gateway), as the stack's ECS task runs it:
# slim Python, a non-root user, the gateway's dependencies only (requirements-gateway.txt) and chalicelib/.
# deploy/gateway.sh builds it, pushes it to ECR and deploys the stack with it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt requirements-gateway.txt ./
RUN pip install --no-compile -r requirements-gateway.txt
COPY chalicelib/ chalicelib/
RUN useradd --system --no-create-home --uid 10001 gateway
USER 10001
EXPOSE 9000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/health', timeout=3)"]
CMD ["python", "-m", "chalicelib.ocpp_gateway", "--host", "0.0.0.0", "--port", "9000"]
