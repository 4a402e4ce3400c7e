# mirrorpipe::dpdk: DPDK as the engine links it.
#
# By default (MIRRORPIPE_STATIC_DPDK) from DPDK's static libraries, with the drivers mirrorpipe
# runs on built in. Two costs of the shared build go away on every packet:
# - a call to __tls_get_addr for the lcore id in every mempool get and put made inside a
#   shared library (a driver's RX and TX, the mbuf frees): a static link resolves DPDK's
#   thread-local variables at link time;
# - the PLT's indirect jump on every call into DPDK.
# `mirrorpipe bench` measured about +5 % (4 KiB pages) and +7 % (hugepages) for VXLAN at 64 B (see
# docs/performance.md). The price: drivers cannot be added as plugins (`-d`): a plugin built
# against the shared librte_eal would bring a second EAL. The drivers below are the ones the
# engine is made for: EC2's NICs (ENA, Intel VFs), the vdevs of its kernel-interface ports and
# of the tests and benches.
set(MIRRORPIPE_DPDK_DRIVERS
    bus_pci bus_vdev mempool_ring
    net_ena net_iavf common_iavf net_ixgbe
    net_af_packet net_af_xdp net_tap net_null net_ring net_pcap
    CACHE STRING "DPDK drivers built into a static build (librte_<name>.a)")
# The libraries those drivers and the engine use, each before the ones it uses.
set(_dpdk_libs gso hash security cryptodev bpf timer cmdline pci ethdev meter net mbuf mempool rcu
    ring eal telemetry kvargs)

add_library(mirrorpipe_dpdk INTERFACE IMPORTED)  # imported: its headers are system headers
add_library(mirrorpipe::dpdk ALIAS mirrorpipe_dpdk)
if(NOT MIRRORPIPE_STATIC_DPDK)
  set(MIRRORPIPE_DPDK_LINK "shared")  # what `mirrorpipe --version` says (engine/cli/version.h.in)
  set_target_properties(mirrorpipe_dpdk PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::DPDK)
  return()
endif()

set(MIRRORPIPE_DPDK_LINK "static, drivers built in")

function(_mirrorpipe_dpdk_archives out)
  set(found "")
  foreach(name ${ARGN})
    find_library(_archive NAMES librte_${name}.a HINTS ${DPDK_LIBRARY_DIRS} NO_CACHE)
    if(NOT _archive)
      message(FATAL_ERROR "MIRRORPIPE_STATIC_DPDK: librte_${name}.a not found (libdpdk-dev ships "
                          "DPDK's static libraries; configure with -DMIRRORPIPE_STATIC_DPDK=OFF to "
                          "link the shared ones)")
    endif()
    list(APPEND found ${_archive})
    unset(_archive)
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()
_mirrorpipe_dpdk_archives(_drivers ${MIRRORPIPE_DPDK_DRIVERS})
_mirrorpipe_dpdk_archives(_libs ${_dpdk_libs})

find_package(Threads REQUIRED)
find_library(NUMA_LIBRARY numa REQUIRED)  # EAL
find_library(BSD_LIBRARY bsd REQUIRED)    # DPDK's strlcpy (Debian builds it with libbsd)
set(_system_libs PkgConfig::PCAP ${NUMA_LIBRARY} ${BSD_LIBRARY} Threads::Threads ${CMAKE_DL_LIBS} m)
if(net_af_xdp IN_LIST MIRRORPIPE_DPDK_DRIVERS)
  pkg_check_modules(LIBXDP REQUIRED IMPORTED_TARGET libxdp)
  pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)
  list(PREPEND _system_libs PkgConfig::LIBXDP PkgConfig::LIBBPF)
endif()

get_target_property(_dpdk_includes PkgConfig::DPDK INTERFACE_INCLUDE_DIRECTORIES)
get_target_property(_dpdk_options PkgConfig::DPDK INTERFACE_COMPILE_OPTIONS)
if(NOT _dpdk_options)
  set(_dpdk_options "")
endif()
set_target_properties(mirrorpipe_dpdk PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${_dpdk_includes}"
  INTERFACE_COMPILE_OPTIONS "${_dpdk_options}"
  # The drivers whole: each registers itself from a constructor that nothing references.
  INTERFACE_LINK_LIBRARIES "-Wl,--whole-archive;${_drivers};-Wl,--no-whole-archive;${_libs};${_system_libs}")
