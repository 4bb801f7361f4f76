#include "server/tls.h"

#include <gtest/gtest.h>

namespace tether::server {
namespace {

TEST(TlsTest, IssuesServerAndClientCertificatesFromAGeneratedCa) {
  auto ca = GenerateCa({.common_name = "tether-test-ca"});
  ASSERT_TRUE(ca) << ca.error().ToString();
  EXPECT_NE(ca->cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(ca->key_pem.find("PRIVATE KEY"), std::string::npos);

  auto server = IssueServerCert(*ca, {.common_name = "apiserver",
                                      .dns_names = {"localhost", "api.local"},
                                      .ip_addresses = {"127.0.0.1"}});
  ASSERT_TRUE(server) << server.error().ToString();
  auto info = InspectCert(server->cert_pem);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->common_name, "apiserver");
  EXPECT_EQ(info->dns_names, (std::vector<std::string>{"localhost", "api.local"}));
  EXPECT_GT(info->not_after, SystemClock::now() + std::chrono::hours(24 * 300));
  EXPECT_LT(info->not_before, SystemClock::now());

  auto client = IssueClientCert(*ca, {.common_name = "alice", .organizations = {"dev", "ops"}});
  ASSERT_TRUE(client);
  auto cinfo = InspectCert(client->cert_pem);
  ASSERT_TRUE(cinfo);
  EXPECT_EQ(cinfo->common_name, "alice");
  EXPECT_EQ(cinfo->organizations, (std::vector<std::string>{"dev", "ops"}));
}

TEST(TlsTest, RejectsBadInput) {
  EXPECT_FALSE(GenerateCa({}));
  auto bad = IssueServerCert({"not a cert", "not a key"}, {.common_name = "x"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("CA"), std::string::npos);
  EXPECT_FALSE(InspectCert("garbage"));
}

TEST(TlsTest, ValidityIsHonoured) {
  auto ca = GenerateCa({.common_name = "ca", .validity = std::chrono::hours(48)});
  ASSERT_TRUE(ca);
  auto info = InspectCert(ca->cert_pem);
  ASSERT_TRUE(info);
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::hours>(info->not_after - info->not_before).count(),
      48);
}

}  // namespace
}  // namespace tether::server
