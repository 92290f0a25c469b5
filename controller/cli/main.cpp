// SPDX-License-Identifier: Apache-2.0
// main only wires modules together: everything is in controller/cli/cli.cpp.
#include "controller/cli/cli.h"

int main(int argc, char** argv) { return ctpilot::controller::runCli(argc, argv); }
