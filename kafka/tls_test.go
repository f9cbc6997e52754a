package kafka_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/kafka"
)

// testCA makes a CA and a broker certificate for 127.0.0.1, and writes the broker's PEM key
// store (PKCS#8 key, then the certificate chain) to dir.
func testCA(t *testing.T, dir string) (pool *x509.CertPool, keystore string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := x509.MarshalPKCS8PrivateKey(key)
	ks := slices.Concat(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	keystore = filepath.Join(dir, "broker.pem")
	if err := os.WriteFile(keystore, ks, 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return pool, keystore
}

// TestRunTLS: Run reads and writes through a TLS listener, verifying the broker's certificate;
// an unknown CA is a clear error.
func TestRunTLS(t *testing.T) {
	ctx := kafkatest.Deadline(t, 3*time.Minute)
	pool, keystore := testCA(t, t.TempDir())
	const base = 29092
	plain, _ := kafkatest.Dedicated(t, base,
		"listeners=PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093,SSL://127.0.0.1:29292",
		"advertised.listeners=PLAINTEXT://127.0.0.1:29092,SSL://127.0.0.1:29292",
		"listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location="+keystore)
	const tlsBroker = "127.0.0.1:29292"
	in, out, app := kafkatest.Name("in"), kafkatest.Name("out"), kafkatest.Name("app")
	evs := events(5_000)
	produce(t, ctx, plain, in, evs, 0)

	cfg := config(tlsBroker, app)
	cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if _, err := kafka.Run(ctx, countPipeline(in, out), cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := committedLines(t, ctx, plain, out), expected(evs); !slices.Equal(got, want) {
		t.Fatalf("counts over TLS: got %d lines, want %d", len(got), len(want))
	}

	bad := config(tlsBroker, kafkatest.Name("app"))
	bad.TLS = &tls.Config{RootCAs: x509.NewCertPool()} // trusts nothing
	bad.ConnectTimeout = 5 * time.Second
	_, err := kafka.Run(ctx, countPipeline(in, out), bad)
	if err == nil || !strings.Contains(err.Error(), tlsBroker) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted broker certificate: %v; want an error naming the broker and the certificate", err)
	}
}
