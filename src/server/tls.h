// TLS utilities: a small certificate authority for self-managed certificates (the embedded API
// server, the admission webhook, tests). Generates ECDSA P-256 keys with OpenSSL 3 and issues
// X.509 v3 certificates; everything goes in and out as PEM strings.
//
// Thread-safety: all functions are pure (no shared state) and safe to call concurrently.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace tether::server {

// A certificate and its private key, PEM encoded.
struct CertKeyPair {
  std::string cert_pem;
  std::string key_pem;
};

struct CertOptions {
  std::string common_name;
  std::vector<std::string> organizations;  // subject O entries (Kubernetes groups)
  std::vector<std::string> dns_names;      // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;   // subjectAltName IP entries ("127.0.0.1", "::1")
  std::chrono::hours validity{24 * 365};
  // Start of validity; defaults to one hour before now to tolerate small clock skew.
  std::optional<TimePoint> not_before;
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign).
Result<CertKeyPair> GenerateCa(const CertOptions& options);

// A server certificate (serverAuth) signed by `ca`. When neither dns_names nor ip_addresses are
// given, SANs default to localhost and 127.0.0.1.
Result<CertKeyPair> IssueServerCert(const CertKeyPair& ca, const CertOptions& options);

// A client certificate (clientAuth) signed by `ca`; CN is the user, O entries are the groups.
Result<CertKeyPair> IssueClientCert(const CertKeyPair& ca, const CertOptions& options);

// Facts about a PEM certificate, e.g. to schedule rotation before expiry.
struct CertInfo {
  std::string common_name;
  std::vector<std::string> organizations;
  std::vector<std::string> dns_names;
  TimePoint not_before;
  TimePoint not_after;
};
Result<CertInfo> InspectCert(const std::string& cert_pem);

}  // namespace tether::server
