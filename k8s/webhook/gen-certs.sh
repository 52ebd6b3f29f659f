#!/usr/bin/env bash
# Self-signed alternative to cert-manager: make a CA and a serving certificate for the webhook
# Service, store them as the Secret the webhook mounts, and put the CA into the
# MutatingWebhookConfiguration's caBundle.  The webhook reloads the files when the Secret changes, so
# running this again rotates the certificate without a restart.
#
#   k8s/webhook/gen-certs.sh [--namespace NS] [--service NAME] [--days N] [--out DIR] [--dry-run]
#
# --dry-run writes ca.crt, tls.crt and tls.key into --out and does not touch the cluster.
set -euo pipefail

namespace=model-sidecar-system
service=model-sidecar-webhook
secret=model-sidecar-webhook-tls
webhook=model-sidecar-webhook
days=365
out=""
dry_run=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --namespace) namespace="$2"; shift 2 ;;
    --service) service="$2"; shift 2 ;;
    --days) days="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "gen-certs.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [[ -z "$out" ]]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
  -subj "/CN=model-sidecar-webhook-ca" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null

openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=${service}.${namespace}.svc" -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null

cat > "$out/ext.cnf" <<EXT
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:${service},DNS:${service}.${namespace},DNS:${service}.${namespace}.svc,DNS:${service}.${namespace}.svc.cluster.local
EXT

openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days "$days" -extfile "$out/ext.cnf" -out "$out/tls.crt" 2>/dev/null
chmod 600 "$out/tls.key" "$out/ca.key"

if [[ "$dry_run" -eq 1 ]]; then
  echo "wrote $out/ca.crt $out/tls.crt $out/tls.key"
  exit 0
fi

kubectl -n "$namespace" create secret tls "$secret" --cert="$out/tls.crt" --key="$out/tls.key" \
  --dry-run=client -o yaml | kubectl apply -f -

ca_bundle="$(base64 < "$out/ca.crt" | tr -d '\n')"
for index in 0 1; do
  kubectl patch mutatingwebhookconfiguration "$webhook" --type=json \
    -p "[{\"op\":\"add\",\"path\":\"/webhooks/${index}/clientConfig/caBundle\",\"value\":\"${ca_bundle}\"}]"
done
echo "installed secret ${namespace}/${secret} and the CA bundle of ${webhook}"
