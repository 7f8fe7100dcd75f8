// dist.cpp — MLX's distributed layer (mlx::core::distributed): groups of
// processes joined by a backend (ring over TCP, jaccl over Thunderbolt RDMA,
// nccl on CUDA, mpi) and the collective operations between them.
#include "mlx/distributed/distributed.h"
#include "mlx/distributed/ops.h"
#include "internal.h"

using namespace lmx;
namespace dist = mlx::core::distributed;

namespace {

const dist::Group& grp(lmx_group g) {
  if (!g) throw std::invalid_argument("null group handle");
  return *static_cast<dist::Group*>(g);
}

std::string backend_name(const char* b) { return b && *b ? b : "any"; }

}  // namespace

extern "C" {

int lmx_dist_available(const char* backend, int32_t* ok) {
  return guard([&] {
    std::string b = backend_name(backend);
    *ok = (b == "any" ? dist::is_available() : dist::is_available(b)) ? 1 : 0;
  });
}

int lmx_dist_init(lmx_group* out, int32_t strict, const char* backend) {
  return guard([&] {
    *out = new dist::Group(dist::init(strict != 0, backend_name(backend)));
  });
}

int lmx_dist_clear(void) {
  return guard([] { dist::clear_backends(); });
}

int lmx_group_free(lmx_group g) {
  return guard([&] { delete static_cast<dist::Group*>(g); });
}

int lmx_group_info(lmx_group g, int32_t* rank, int32_t* size) {
  return guard([&] {
    *rank = grp(g).rank();
    *size = grp(g).size();
  });
}

int lmx_group_split(lmx_group* out, lmx_group g, int32_t color, int32_t key) {
  return guard([&] { *out = new dist::Group(grp(g).split(color, key)); });
}

int lmx_collective(lmx_array* out, int32_t op, lmx_array x, lmx_group g) {
  return guard([&] {
    const auto& group = grp(g);
    switch (op) {
      case LMX_ALL_SUM:
        give(out, dist::all_sum(arr(x), group));
        break;
      case LMX_ALL_GATHER:
        give(out, dist::all_gather(arr(x), group));
        break;
      case LMX_ALL_MAX:
        give(out, dist::all_max(arr(x), group));
        break;
      case LMX_ALL_MIN:
        give(out, dist::all_min(arr(x), group));
        break;
      default:
        throw std::invalid_argument("unknown collective op");
    }
  });
}

int lmx_send(lmx_array* out, lmx_array x, int32_t dst, lmx_group g) {
  return guard([&] { give(out, dist::send(arr(x), dst, grp(g))); });
}

int lmx_recv(lmx_array* out, const int32_t* shp, int64_t ndim, int32_t dt,
             int32_t src, lmx_group g) {
  return guard([&] {
    give(out, dist::recv(shape(shp, ndim), dtype(dt), src, grp(g)));
  });
}

}  // extern "C"
