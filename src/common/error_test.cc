#include "common/error.h"

#include <gtest/gtest.h>

namespace tether {
namespace {

TEST(ErrorTest, MapsHttpStatusAndReason) {
  EXPECT_EQ(ErrorCodeFromHttp(404, "NotFound"), ErrorCode::kNotFound);
  EXPECT_EQ(ErrorCodeFromHttp(409, "Conflict"), ErrorCode::kConflict);
  EXPECT_EQ(ErrorCodeFromHttp(409, "AlreadyExists"), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ErrorCodeFromHttp(410, "Expired"), ErrorCode::kGone);
  EXPECT_EQ(ErrorCodeFromHttp(200, "Expired"), ErrorCode::kGone);  // watch ERROR event status
  EXPECT_EQ(ErrorCodeFromHttp(422, "Invalid"), ErrorCode::kInvalid);
  EXPECT_EQ(ErrorCodeFromHttp(429, "TooManyRequests"), ErrorCode::kUnavailable);
  EXPECT_EQ(ErrorCodeFromHttp(503, ""), ErrorCode::kUnavailable);
  EXPECT_TRUE(Error(ErrorCode::kUnavailable, "x").IsRetryable());
  EXPECT_FALSE(Error(ErrorCode::kForbidden, "x").IsRetryable());
}

TEST(ErrorTest, WrapAddsContext) {
  Error e(ErrorCode::kInvalid, "bad base64");
  EXPECT_EQ(e.Wrap("kubeconfig /tmp/k: user \"u\"").ToString(),
            "Invalid: kubeconfig /tmp/k: user \"u\": bad base64");
}

}  // namespace
}  // namespace tether
