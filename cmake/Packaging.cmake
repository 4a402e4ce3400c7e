# Install rules and the Debian package.
#
#   cmake --install build [--prefix DIR]      the binary, examples, systemd unit, man pages,
#                                             bash completion, the EC2 preparation script
#   (cd build && cpack -G DEB)                mirrorpipe_VERSION_ARCH.deb, depending on Debian's
#                                             own DPDK and libpcap packages
#
# Man pages are built from docs/man/*.scd with scdoc when it is installed (Debian package
# `scdoc`); without it they are neither built nor installed, and configuring says so.

include(GNUInstallDirs)

# --- the program and what comes with it ----------------------------------------------------------
install(TARGETS mirrorpipe RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/ec2/prepare-instance
        DESTINATION ${CMAKE_INSTALL_SBINDIR} RENAME mirrorpipe-prepare-instance)

file(GLOB MIRRORPIPE_EXAMPLES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/*.toml)
install(FILES ${MIRRORPIPE_EXAMPLES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# The bundled sample, where `mirrorpipe bench` looks for it beside the executable.
install(FILES ${PROJECT_SOURCE_DIR}/pcaps/sample-mix.pcap DESTINATION ${CMAKE_INSTALL_DATADIR}/mirrorpipe)
file(GLOB MIRRORPIPE_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${MIRRORPIPE_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
# A static build carries DPDK's code (BSD-3-Clause and others): its copyright and licence
# notices go with the binary, as Debian's DPDK packages state them.
if(MIRRORPIPE_STATIC_DPDK)
  find_file(MIRRORPIPE_DPDK_COPYRIGHT copyright PATHS /usr/share/doc/libdpdk-dev /usr/share/doc/librte-eal23
            NO_DEFAULT_PATH)
  if(NOT MIRRORPIPE_DPDK_COPYRIGHT)
    message(FATAL_ERROR "MIRRORPIPE_STATIC_DPDK: DPDK's copyright file (/usr/share/doc/libdpdk-dev/copyright) "
                        "not found; the package must carry it")
  endif()
  install(FILES ${MIRRORPIPE_DPDK_COPYRIGHT} DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright.dpdk)
endif()

# bash-completion loads completions/NAME when NAME is completed the first time.
install(FILES ${PROJECT_SOURCE_DIR}/deploy/bash-completion/mirrorpipe
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/bash-completion/mirrorpipe
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions
        RENAME mirrorpipe-prepare-instance)

# The systemd unit names /usr/bin/mirrorpipe, where the package puts it. Under another prefix
# (cmake --install --prefix /opt/mp) its Exec lines are rewritten to that prefix at install
# time, when the prefix is known. systemd reads units from PREFIX/lib/systemd/system for the
# prefixes /usr and /usr/local; others need a link in /etc/systemd/system.
set(MIRRORPIPE_UNIT_SRC ${PROJECT_SOURCE_DIR}/deploy/systemd/mirrorpipe@.service)
set(MIRRORPIPE_UNIT_STAGE ${PROJECT_BINARY_DIR}/systemd/mirrorpipe@.service)
string(CONFIGURE [[
  file(READ "@MIRRORPIPE_UNIT_SRC@" unit)
  if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    string(REPLACE "/usr/bin/mirrorpipe" "${CMAKE_INSTALL_PREFIX}/@CMAKE_INSTALL_BINDIR@/mirrorpipe" unit "${unit}")
  endif()
  file(WRITE "@MIRRORPIPE_UNIT_STAGE@" "${unit}")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "@MIRRORPIPE_UNIT_STAGE@")
]] _mp_unit_install @ONLY)
install(CODE "${_mp_unit_install}")

# --- man pages -----------------------------------------------------------------------------------
find_program(SCDOC_EXECUTABLE scdoc)
file(GLOB MIRRORPIPE_MAN_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/man/*.scd)
set(MIRRORPIPE_MAN_DIR ${PROJECT_BINARY_DIR}/man)
if(SCDOC_EXECUTABLE)
  set(_mp_man_pages)
  foreach(src ${MIRRORPIPE_MAN_SOURCES})
    get_filename_component(page ${src} NAME_WLE)          # mirrorpipe-encap.1
    string(REGEX MATCH "[0-9]$" section ${page})
    set(out ${MIRRORPIPE_MAN_DIR}/man${section}/${page}.gz)
    # SOURCE_DATE_EPOCH (when set) fixes the date scdoc prints; gzip -n leaves out the name and
    # time: the same sources give the same bytes.
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${MIRRORPIPE_MAN_DIR}/man${section}
      COMMAND sh -c "'${SCDOC_EXECUTABLE}' < '${src}' | gzip -9n > '${out}.tmp' && mv '${out}.tmp' '${out}'"
      DEPENDS ${src}
      COMMENT "scdoc ${page}"
      VERBATIM)
    list(APPEND _mp_man_pages ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(mirrorpipe_man ALL DEPENDS ${_mp_man_pages})
  set(MIRRORPIPE_MAN_BUILT ON)
else()
  message(STATUS "scdoc not found: man pages are not built (Debian package scdoc)")
  set(MIRRORPIPE_MAN_BUILT OFF)
endif()

# --- the Debian package --------------------------------------------------------------------------
set(MIRRORPIPE_DEB_MAINTAINER "mirrorpipe maintainers <maintainers@mirrorpipe.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mirrorpipe)
set(CPACK_PACKAGE_VENDOR "mirrorpipe")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${MIRRORPIPE_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Stage with DESTDIR, so that the install scripts see the real prefix (/usr): the unit's Exec
# lines are written for it.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "AWS traffic-mirroring engine: VXLAN and GWLB Geneve encapsulation on DPDK")
set(CPACK_PACKAGE_DESCRIPTION
"mirrorpipe wraps mirrored frames as AWS VPC Traffic Mirroring VXLAN (UDP 4789) or as
Gateway Load Balancer Geneve (UDP 6081), and decapsulates VXLAN, Geneve and
VXLAN inside Geneve back to the original frames, in a DPDK poll-mode engine.
It serves as a mirror source, as the target of Traffic Mirroring sessions (an
NLB with a UDP 4789 listener in front of several), as an inline appliance behind
a Gateway Load Balancer, and replays captures as AWS would have mirrored them.
.
The package holds the mirrorpipe command, the systemd unit mirrorpipe@.service
(one instance per configuration in /etc/mirrorpipe), the EC2 preparation script
mirrorpipe-prepare-instance (hugepages, vfio-pci, NIC binding), man pages,
bash completion and one example configuration per role.")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)                 # mirrorpipe_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared libraries the binary links (libpcap0.8, libtomlplusplus3, libnuma1, libxdp1, libstdc++6;
# librte-*23 in a shared build)
# come from dpkg-shlibdeps, with the versions Debian declares for them.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A static build (MIRRORPIPE_STATIC_DPDK, cmake/Dpdk.cmake) has DPDK and its drivers inside the
# binary. A shared build loads its drivers as plugins (dlopen from
# /usr/lib/<triplet>/dpdk/pmds-23.0), which dpkg-shlibdeps cannot see: the buses, the mempool
# handler and the NIC drivers mirrorpipe is made for (ENA, Intel VFs, and the vdevs of its
# kernel-interface and test ports).
if(MIRRORPIPE_STATIC_DPDK)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "")
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dpdk, ethtool")
else()
  set(MIRRORPIPE_DEB_PMDS
      librte-bus-pci23 librte-bus-vdev23 librte-mempool-ring23
      librte-net-ena23 librte-net-iavf23 librte-net-ixgbe23
      librte-net-af-packet23 librte-net-tap23 librte-net-null23 librte-net-ring23 librte-net-pcap23)
  string(REPLACE ";" ", " CPACK_DEBIAN_PACKAGE_DEPENDS "${MIRRORPIPE_DEB_PMDS}")
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "${CPACK_DEBIAN_PACKAGE_DEPENDS}, ")
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dpdk, ethtool, librte-net-af-xdp23")
endif()
# The preparation script: ip, modprobe, python3 (reads the configuration's TOML).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${CPACK_DEBIAN_PACKAGE_DEPENDS}iproute2, kmod, python3 (>= 3.11)")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "dpdk-kmods-dkms, tshark, tcpdump")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
