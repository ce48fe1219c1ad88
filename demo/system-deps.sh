#!/bin/sh
# Installs the real components the demo and the tests run (Debian packages) when they are
# missing. Installing them starts no service.
set -eu
need=""
command -v prometheus >/dev/null 2>&1 || need="$need prometheus"
command -v prometheus-alertmanager >/dev/null 2>&1 || need="$need prometheus-alertmanager"
command -v victoria-metrics >/dev/null 2>&1 || need="$need victoria-metrics"
# Real node_exporter series for the own-Prometheus guide's test.
command -v prometheus-node-exporter >/dev/null 2>&1 || need="$need prometheus-node-exporter"
# The Kubernetes manifests' offline checks: kubectl kustomize (Debian ships kubectl in
# kubernetes-client) and the monitoring mixin's jsonnet.
command -v kubectl >/dev/null 2>&1 || need="$need kubernetes-client"
command -v jsonnet >/dev/null 2>&1 || need="$need jsonnet"
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need="$need python3-venv"
# Reports: the PDF and the screenshots are rendered by headless Chromium, the tests read the PDF
# with poppler's pdftotext/pdftoppm.
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v pdftotext >/dev/null 2>&1 || need="$need poppler-utils"
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need="$need fonts-dejavu-core"
compose=""
command -v docker-compose >/dev/null 2>&1 || compose="docker-compose"
[ -z "$need$compose" ] && exit 0

if [ "$(id -u)" = 0 ]; then sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"
else
  echo "promcast: missing Debian packages:$need $compose" >&2
  echo "  install them with: sudo apt-get install$need && sudo apt-get install --no-install-recommends $compose" >&2
  echo "  or run the stack in containers instead: docker-compose up" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "promcast: no apt-get here; install Prometheus 2.42+, Alertmanager 0.25+, VictoriaMetrics, kubectl and jsonnet," >&2
  echo "  Chromium and poppler-utils (for reports)," >&2
  echo "  or run the stack in containers: docker-compose up" >&2
  exit 1
fi
echo "promcast: installing Debian packages:$need $compose"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
[ -n "$need" ] && $sudo apt-get install -y -qq $need
[ -n "$compose" ] && $sudo apt-get install -y -qq --no-install-recommends $compose
exit 0
