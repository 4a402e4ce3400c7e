# Install rules and the Debian package (cpack -G DEB). Filled in by the packaging work.
