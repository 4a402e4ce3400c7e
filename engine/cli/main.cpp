#include "engine/cli/commands.h"

int main(int argc, char** argv) { return mirrorpipe::run_cli(argc, argv); }
