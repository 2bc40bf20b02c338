#!/bin/sh
# Makes the TLS test's throwaway CA and the server certificate it signs
# (127.0.0.1 and localhost), valid from 2000 to 2126 so that no clock makes
# them expire. Test material only: the keys are public; never trust ca.pem
# anywhere else. Run in this folder; needs the openssl command.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/ca.cnf" <<'CNF'
[ca]
default_ca = test
[test]
dir = .
database = $ENV::WORK/index.txt
new_certs_dir = $ENV::WORK
serial = $ENV::WORK/serial
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
CNF
export WORK="$work"
touch "$work/index.txt"
echo 01 > "$work/serial"
sign() { # CSR OUT EXTENSIONS, then -selfsign or -cert ca.pem
  csr=$1 out=$2 ext=$3
  shift 3
  openssl ca -batch -config "$work/ca.cnf" -notext -startdate 20000101000000Z \
    -enddate 21260101000000Z -keyfile "$work/ca.key" -in "$csr" -out "$out" \
    -extensions "$ext" "$@"
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key"
openssl req -new -key "$work/ca.key" -subj "/CN=campaignctl test CA" -out "$work/ca.csr"
sign "$work/ca.csr" ca.pem ca_ext -selfsign
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key
openssl req -new -key server.key -subj "/CN=127.0.0.1" -out "$work/server.csr"
sign "$work/server.csr" server.pem server_ext -cert ca.pem
openssl verify -CAfile ca.pem server.pem
