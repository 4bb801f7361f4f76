#include "server/tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace tether::server {
namespace {

struct Deleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter>;
using CertPtr = std::unique_ptr<X509, Deleter>;
using BioPtr = std::unique_ptr<BIO, Deleter>;

std::string OpenSslError(std::string_view what) {
  std::string msg(what);
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  return msg;
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return Fail(ErrorCode::kInternal, OpenSslError("tls: encoding private key as PEM"));
  }
  return BioToString(bio.get());
}

Result<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) {
    return Fail(ErrorCode::kInternal, OpenSslError("tls: encoding certificate as PEM"));
  }
  return BioToString(bio.get());
}

Result<KeyPtr> KeyFromPem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return Fail(ErrorCode::kInvalid,
                OpenSslError("tls: parsing PEM private key (expected an unencrypted PEM key)"));
  }
  return key;
}

Result<CertPtr> CertFromPem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return Fail(
        ErrorCode::kInvalid,
        OpenSslError("tls: parsing PEM certificate (expected -----BEGIN CERTIFICATE-----)"));
  }
  return cert;
}

Result<KeyPtr> NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Fail(ErrorCode::kInternal, OpenSslError("tls: generating an EC P-256 key"));
  return key;
}

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Deleter> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

enum class Kind { kCa, kServer, kClient };

Result<CertKeyPair> Issue(const CertKeyPair* ca, const CertOptions& opt, Kind kind) {
  if (opt.common_name.empty()) {
    return Fail(ErrorCode::kInvalid,
                "tls: certificate common name is empty; set CertOptions.common_name");
  }
  auto key = NewKey();
  if (!key) return tl::unexpected(key.error());

  KeyPtr ca_key;
  CertPtr ca_cert;
  if (ca != nullptr) {
    auto k = KeyFromPem(ca->key_pem);
    if (!k) return tl::unexpected(k.error().Wrap("tls: CA key"));
    auto c = CertFromPem(ca->cert_pem);
    if (!c) return tl::unexpected(c.error().Wrap("tls: CA certificate"));
    ca_key = std::move(*k);
    ca_cert = std::move(*c);
  }

  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial_bytes[16];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f;
  std::unique_ptr<BIGNUM, Deleter> serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));

  TimePoint start = opt.not_before.value_or(SystemClock::now() - std::chrono::hours(1));
  time_t nb = SystemClock::to_time_t(std::chrono::time_point_cast<SystemClock::duration>(start));
  time_t na = nb + std::chrono::duration_cast<std::chrono::seconds>(opt.validity).count();
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), nb);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), na);
  X509_set_pubkey(cert.get(), key->get());

  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& org : opt.organizations) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(opt.common_name.c_str()), -1,
                             -1, 0);
  X509* issuer = ca_cert ? ca_cert.get() : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));

  bool ok = AddExtension(cert.get(), issuer, NID_subject_key_identifier, "hash");
  if (ca_cert) ok = ok && AddExtension(cert.get(), issuer, NID_authority_key_identifier, "keyid");
  switch (kind) {
    case Kind::kCa:
      ok = ok && AddExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE");
      ok = ok && AddExtension(cert.get(), issuer, NID_key_usage,
                              "critical,keyCertSign,cRLSign,digitalSignature");
      break;
    case Kind::kServer:
    case Kind::kClient:
      ok = ok && AddExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
      ok = ok && AddExtension(cert.get(), issuer, NID_key_usage,
                              "critical,digitalSignature,keyEncipherment");
      ok = ok && AddExtension(cert.get(), issuer, NID_ext_key_usage,
                              kind == Kind::kServer ? "serverAuth" : "clientAuth");
      break;
  }
  std::vector<std::string> dns = opt.dns_names;
  std::vector<std::string> ips = opt.ip_addresses;
  if (kind == Kind::kServer && dns.empty() && ips.empty()) {
    dns = {"localhost"};
    ips = {"127.0.0.1"};
  }
  std::string san;
  for (const auto& d : dns) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : ips) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!san.empty()) ok = ok && AddExtension(cert.get(), issuer, NID_subject_alt_name, san);
  if (!ok) {
    return Fail(ErrorCode::kInvalid,
                OpenSslError("tls: adding X.509 extensions (check DNS names and IP addresses)"));
  }
  EVP_PKEY* signer = ca_key ? ca_key.get() : key->get();
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) {
    return Fail(ErrorCode::kInternal, OpenSslError("tls: signing certificate"));
  }
  auto cert_pem = CertToPem(cert.get());
  if (!cert_pem) return tl::unexpected(cert_pem.error());
  auto key_pem = KeyToPem(key->get());
  if (!key_pem) return tl::unexpected(key_pem.error());
  return CertKeyPair{std::move(*cert_pem), std::move(*key_pem)};
}

TimePoint FromAsn1(const ASN1_TIME* t) {
  struct tm tm {};
  ASN1_TIME_to_tm(t, &tm);
  return std::chrono::time_point_cast<Duration>(SystemClock::from_time_t(timegm(&tm)));
}

}  // namespace

Result<CertKeyPair> GenerateCa(const CertOptions& options) {
  return Issue(nullptr, options, Kind::kCa);
}

Result<CertKeyPair> IssueServerCert(const CertKeyPair& ca, const CertOptions& options) {
  return Issue(&ca, options, Kind::kServer);
}

Result<CertKeyPair> IssueClientCert(const CertKeyPair& ca, const CertOptions& options) {
  return Issue(&ca, options, Kind::kClient);
}

Result<CertInfo> InspectCert(const std::string& cert_pem) {
  auto cert = CertFromPem(cert_pem);
  if (!cert) return tl::unexpected(cert.error());
  CertInfo info;
  X509_NAME* name = X509_get_subject_name(cert->get());
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(e);
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                      static_cast<size_t>(ASN1_STRING_length(data)));
    if (nid == NID_commonName) info.common_name = value;
    if (nid == NID_organizationName) info.organizations.push_back(value);
  }
  std::unique_ptr<GENERAL_NAMES, Deleter> sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert->get(), NID_subject_alt_name, nullptr, nullptr)));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s = gn->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<size_t>(ASN1_STRING_length(s)));
      }
    }
  }
  info.not_before = FromAsn1(X509_get0_notBefore(cert->get()));
  info.not_after = FromAsn1(X509_get0_notAfter(cert->get()));
  return info;
}

}  // namespace tether::server
