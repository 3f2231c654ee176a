// SPDX-License-Identifier: Apache-2.0
#include "cmd/common.h"
namespace membrane::cmd {
int cmdConnectivity(int, char**) { return kExitBadInput; }
}
