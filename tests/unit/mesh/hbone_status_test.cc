// HBONE refusals: the status and Proxy-Status a server sends, and the reason
// a client reads back from them.
#include "mesh/hbone_status.h"

#include <gtest/gtest.h>

namespace ugate {
namespace {

TEST(HboneStatus, EveryRefusalReadsBackAsItsReason) {
  for (CloseReason r : {CloseReason::kConnectRefused, CloseReason::kConnectTimeout, CloseReason::kConnectFailed,
                        CloseReason::kResolveFailed, CloseReason::kNoRoute, CloseReason::kOverload,
                        CloseReason::kBadRequest, CloseReason::kNotAllowed}) {
    HboneAnswer a = hbone_answer(r);
    EXPECT_EQ(hbone_refusal_reason(a.status, proxy_status_value(a)), r) << to_string(r);
  }
}

TEST(HboneStatus, GatewayStatusesAsTheIssueSays) {
  EXPECT_EQ(hbone_answer(CloseReason::kConnectRefused).status, 502);
  EXPECT_EQ(hbone_answer(CloseReason::kConnectTimeout).status, 504);
  EXPECT_EQ(hbone_answer(CloseReason::kOverload).status, 503);
  EXPECT_EQ(hbone_answer(CloseReason::kNotAllowed).status, 403);  // an auto listener's allow list
  EXPECT_EQ(proxy_status_value(hbone_answer(CloseReason::kConnectTimeout)), "ugate; error=connection_timeout");
}

TEST(HboneStatus, PeersWithoutProxyStatusAreReadByStatus) {
  EXPECT_EQ(hbone_refusal_reason(504, ""), CloseReason::kConnectTimeout);
  EXPECT_EQ(hbone_refusal_reason(503, ""), CloseReason::kOverload);
  EXPECT_EQ(hbone_refusal_reason(502, ""), CloseReason::kConnectFailed);
  EXPECT_EQ(hbone_refusal_reason(401, "other; error=weird"), CloseReason::kBadRequest);
  EXPECT_EQ(hbone_refusal_reason(502, "envoy; error=connection_refused; details=\"x\""), CloseReason::kConnectRefused);
}

}  // namespace
}  // namespace ugate
