#include "engine/runtime/mbuf.h"

#include <rte_errno.h>

#include <stdexcept>
#include <string>

namespace mirrorpipe {

int g_mbuf_meta_offset = -1;

void register_mbuf_meta() {
  static const rte_mbuf_dynfield desc = {
      "mirrorpipe_mbuf_meta", sizeof(MbufMeta), alignof(MbufMeta), 0};
  g_mbuf_meta_offset = rte_mbuf_dynfield_register(&desc);
  if (g_mbuf_meta_offset < 0) {
    throw std::runtime_error(std::string("cannot register the mbuf metadata field: ") +
                             rte_strerror(rte_errno));
  }
}

}  // namespace mirrorpipe
