// io.cpp — safetensors loading and saving.
#include <memory>

#include "internal.h"

using namespace lmx;

namespace {

// Loaded keeps a load result in a stable order so Go can walk it by index.
struct Loaded {
  std::vector<std::pair<std::string, mx::array>> arrays;
  std::vector<std::pair<std::string, std::string>> meta;
};

// split_packed reads n NUL-terminated strings stored back to back.
std::vector<std::string> split_packed(const char* p, int64_t n) {
  std::vector<std::string> v;
  v.reserve(n);
  for (int64_t i = 0; i < n; i++) {
    v.emplace_back(p);
    p += v.back().size() + 1;
  }
  return v;
}

}  // namespace

extern "C" {

int lmx_load_safetensors(lmx_tensors* out, const char* path,
                         int64_t* n_arrays, int64_t* n_meta) {
  return guard([&] {
    auto r = mx::load_safetensors(std::string(path));
    auto l = std::make_unique<Loaded>();
    for (auto& [k, a] : r.first) l->arrays.emplace_back(k, a);
    for (auto& [k, v] : r.second) l->meta.emplace_back(k, v);
    *n_arrays = int64_t(l->arrays.size());
    *n_meta = int64_t(l->meta.size());
    *out = l.release();
  });
}

int lmx_tensors_array(lmx_tensors t, int64_t i, const char** name,
                      lmx_array* a) {
  return guard([&] {
    auto& e = static_cast<Loaded*>(t)->arrays.at(size_t(i));
    *name = e.first.c_str();
    give(a, e.second);
  });
}

int lmx_tensors_meta(lmx_tensors t, int64_t i, const char** key,
                     const char** value) {
  return guard([&] {
    auto& e = static_cast<Loaded*>(t)->meta.at(size_t(i));
    *key = e.first.c_str();
    *value = e.second.c_str();
  });
}

int lmx_tensors_free(lmx_tensors t) {
  return guard([&] { delete static_cast<Loaded*>(t); });
}

int lmx_save_safetensors(const char* path, const char* names,
                         const lmx_array* arrs, int64_t n_arrays,
                         const char* keys, const char* values,
                         int64_t n_meta) {
  return guard([&] {
    auto ns = split_packed(names, n_arrays);
    std::unordered_map<std::string, mx::array> m;
    for (int64_t i = 0; i < n_arrays; i++) m.emplace(ns[i], arr(arrs[i]));
    auto ks = split_packed(keys, n_meta);
    auto vs = split_packed(values, n_meta);
    std::unordered_map<std::string, std::string> meta;
    for (int64_t i = 0; i < n_meta; i++) meta.emplace(ks[i], vs[i]);
    mx::save_safetensors(std::string(path), std::move(m), std::move(meta));
  });
}

}  // extern "C"
