// memory.cpp — allocator counters and limits, devices and synchronization.
#include <sstream>

#include "internal.h"

using namespace lmx;

namespace {

mx::Device device(int32_t type, int32_t index) {
  return mx::Device(type == 1 ? mx::Device::gpu : mx::Device::cpu, index);
}

void json_string(std::ostringstream& o, const std::string& s) {
  o << '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o << '\\' << c;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o << buf;
    } else {
      o << c;
    }
  }
  o << '"';
}

thread_local std::string info_json;

}  // namespace

extern "C" {

int lmx_memory(uint64_t* out) {
  return guard([&] {
    out[0] = mx::get_active_memory();
    out[1] = mx::get_peak_memory();
    out[2] = mx::get_cache_memory();
    out[3] = mx::get_memory_limit();
  });
}

int lmx_reset_peak_memory(void) {
  return guard([] { mx::reset_peak_memory(); });
}

int lmx_clear_cache(void) {
  return guard([] { mx::clear_cache(); });
}

int lmx_set_limit(int32_t which, uint64_t bytes, uint64_t* prev) {
  return guard([&] {
    switch (which) {
      case 0: *prev = mx::set_memory_limit(bytes); return;
      case 1: *prev = mx::set_cache_limit(bytes); return;
      case 2: *prev = mx::set_wired_limit(bytes); return;
    }
    throw std::invalid_argument("unknown limit " + std::to_string(which));
  });
}

int lmx_default_device(int32_t* type, int32_t* index) {
  return guard([&] {
    auto& d = mx::default_device();
    *type = d.type == mx::Device::gpu ? 1 : 0;
    *index = d.index;
  });
}

int lmx_set_default_device(int32_t type, int32_t index) {
  return guard([&] { mx::set_default_device(device(type, index)); });
}

int lmx_device_available(int32_t type, int32_t index, int32_t* ok) {
  return guard([&] { *ok = mx::is_available(device(type, index)) ? 1 : 0; });
}

int lmx_device_info(int32_t type, int32_t index, const char** json) {
  return guard([&] {
    std::ostringstream o;
    o << '{';
    bool first = true;
    auto d = device(type, index);
    for (auto& [k, v] : mx::device_info(d)) {
      if (!first) o << ',';
      first = false;
      json_string(o, k);
      o << ':';
      if (auto s = std::get_if<std::string>(&v)) {
        json_string(o, *s);
      } else {
        o << std::get<size_t>(v);
      }
    }
    o << '}';
    info_json = o.str();
    *json = info_json.c_str();
  });
}

int lmx_synchronize(void) {
  return guard([] { mx::synchronize(); });
}

}  // extern "C"
