#include "cel/time_util.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace tether::cel {

bool TimestampInRange(const Timestamp& t) {
  return t.seconds >= kMinTimestampSeconds && t.seconds <= kMaxTimestampSeconds;
}

// Days since 1970-01-01 of a proleptic Gregorian date (era-based computation).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2 ? 1 : 0);
}

namespace {
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
}  // namespace

CivilTime ToCivil(const Timestamp& t, int64_t offset_seconds) {
  int64_t s = t.seconds + offset_seconds;
  int64_t days = FloorDiv(s, 86400);
  int64_t sod = s - days * 86400;
  CivilTime c{};
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  c.year = y;
  c.month = static_cast<int>(m);
  c.day = static_cast<int>(d);
  c.hour = static_cast<int>(sod / 3600);
  c.minute = static_cast<int>((sod / 60) % 60);
  c.second = static_cast<int>(sod % 60);
  c.nanos = t.nanos;
  c.day_of_week = static_cast<int>(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  c.day_of_year = static_cast<int>(days - DaysFromCivil(y, 1, 1));
  return c;
}

std::optional<Timestamp> ParseTimestampRfc3339(std::string_view s) {
  size_t i = 0;
  auto digits = [&](size_t n, int* out) {
    if (i + n > s.size()) return false;
    int v = 0;
    for (size_t k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    *out = v;
    i += n;
    return true;
  };
  auto expect = [&](char c) {
    if (i < s.size() && (s[i] == c || (c == 'T' && s[i] == 't'))) {
      ++i;
      return true;
    }
    return false;
  };
  int year, month, day, hour, minute, second;
  if (!digits(4, &year) || !expect('-') || !digits(2, &month) || !expect('-') || !digits(2, &day) ||
      !expect('T') || !digits(2, &hour) || !expect(':') || !digits(2, &minute) || !expect(':') ||
      !digits(2, &second)) {
    return std::nullopt;
  }
  int32_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    int64_t frac = 0;
    int nd = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (nd < 9) {
        frac = frac * 10 + (s[i] - '0');
        ++nd;
      }
      ++i;
    }
    if (i == start) return std::nullopt;
    while (nd < 9) {
      frac *= 10;
      ++nd;
    }
    nanos = static_cast<int32_t>(frac);
  }
  int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int oh, om;
    if (!digits(2, &oh) || !expect(':') || !digits(2, &om)) return std::nullopt;
    if (oh > 23 || om > 59) return std::nullopt;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int max_day = kDays[month - 1] + (month == 2 && IsLeap(year) ? 1 : 0);
  if (day > max_day) return std::nullopt;
  if (second == 60) second = 59;  // leap seconds are smeared like Go's parser rejects; clamp
  Timestamp t;
  t.seconds =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offset;
  t.nanos = nanos;
  if (!TimestampInRange(t)) return std::nullopt;
  return t;
}

std::string FormatTimestampRfc3339(const Timestamp& t, int64_t offset_seconds) {
  CivilTime c = ToCivil(t, offset_seconds);
  std::string out = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", c.year, c.month, c.day,
                                c.hour, c.minute, c.second);
  if (t.nanos != 0) {
    std::string f = fmt::format("{:09d}", t.nanos);
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  if (offset_seconds == 0) return out + "Z";
  int64_t o = offset_seconds < 0 ? -offset_seconds : offset_seconds;
  return out +
         fmt::format("{}{:02d}:{:02d}", offset_seconds < 0 ? '-' : '+', o / 3600, (o / 60) % 60);
}

std::optional<int64_t> ParseGoDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    ++i;
  }
  if (s.substr(i) == "0") return 0;
  if (i >= s.size()) return std::nullopt;
  // Accumulate in long double-free exact arithmetic: unsigned 128-bit of nanoseconds.
  unsigned __int128 total = 0;
  while (i < s.size()) {
    unsigned __int128 whole = 0;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      whole = whole * 10 + static_cast<unsigned>(s[i] - '0');
      if (whole > (static_cast<unsigned __int128>(1) << 64)) return std::nullopt;
      ++i;
    }
    bool had_whole = i > start;
    unsigned __int128 frac = 0;
    unsigned __int128 scale = 1;
    bool had_frac = false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (scale < static_cast<unsigned __int128>(1000000000000000000ULL)) {
          frac = frac * 10 + static_cast<unsigned>(s[i] - '0');
          scale *= 10;
        }
        had_frac = true;
        ++i;
      }
    }
    if (!had_whole && !had_frac) return std::nullopt;
    size_t ustart = i;
    while (i < s.size() && !(s[i] >= '0' && s[i] <= '9') && s[i] != '.') ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    uint64_t mult;
    if (unit == "ns") {
      mult = 1;
    } else if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") {
      mult = 1000;
    } else if (unit == "ms") {
      mult = 1000000;
    } else if (unit == "s") {
      mult = 1000000000ULL;
    } else if (unit == "m") {
      mult = 60ULL * 1000000000ULL;
    } else if (unit == "h") {
      mult = 3600ULL * 1000000000ULL;
    } else {
      return std::nullopt;
    }
    total += whole * mult + frac * mult / scale;
    if (total > (static_cast<unsigned __int128>(1) << 63)) return std::nullopt;
  }
  if (!neg && total > static_cast<unsigned __int128>(INT64_MAX)) return std::nullopt;
  auto v = static_cast<int64_t>(static_cast<uint64_t>(total));
  return neg ? -v : v;
}

namespace {

struct Zone {
  std::vector<int64_t> transitions;      // sorted UTC instants
  std::vector<uint8_t> transition_type;  // index into offsets
  std::vector<int64_t> offsets;          // per local time type
  int64_t default_offset = 0;
};

uint32_t ReadBe32(const std::string& d, size_t at) {
  return (static_cast<uint8_t>(d[at]) << 24) | (static_cast<uint8_t>(d[at + 1]) << 16) |
         (static_cast<uint8_t>(d[at + 2]) << 8) | static_cast<uint8_t>(d[at + 3]);
}

std::shared_ptr<const Zone> LoadZone(const std::string& name) {
  if (name.empty() || name.find("..") != std::string::npos || name[0] == '/') return nullptr;
  std::ifstream in("/usr/share/zoneinfo/" + name, std::ios::binary);
  if (!in) return nullptr;
  std::string d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (d.size() < 44 || d.compare(0, 4, "TZif") != 0) return nullptr;
  auto parse_block = [&](size_t at, bool v2, Zone* z, size_t* end) -> bool {
    if (at + 44 > d.size()) return false;
    uint32_t isutcnt = ReadBe32(d, at + 20), isstdcnt = ReadBe32(d, at + 24),
             leapcnt = ReadBe32(d, at + 28), timecnt = ReadBe32(d, at + 32),
             typecnt = ReadBe32(d, at + 36), charcnt = ReadBe32(d, at + 40);
    size_t tsize = v2 ? 8 : 4;
    size_t p = at + 44;
    size_t need = timecnt * tsize + timecnt + typecnt * 6 + charcnt + leapcnt * (tsize + 4) +
                  isstdcnt + isutcnt;
    if (p + need > d.size() || typecnt == 0) return false;
    z->transitions.clear();
    z->transition_type.clear();
    z->offsets.clear();
    for (uint32_t k = 0; k < timecnt; ++k) {
      int64_t t;
      if (v2) {
        uint64_t hi = ReadBe32(d, p), lo = ReadBe32(d, p + 4);
        t = static_cast<int64_t>((hi << 32) | lo);
      } else {
        t = static_cast<int32_t>(ReadBe32(d, p));
      }
      z->transitions.push_back(t);
      p += tsize;
    }
    for (uint32_t k = 0; k < timecnt; ++k)
      z->transition_type.push_back(static_cast<uint8_t>(d[p++]));
    for (uint32_t k = 0; k < typecnt; ++k) {
      z->offsets.push_back(static_cast<int32_t>(ReadBe32(d, p)));
      p += 6;
    }
    z->default_offset = z->offsets[0];
    for (uint8_t tt : z->transition_type) {
      if (tt >= typecnt) return false;
    }
    *end = p + charcnt + leapcnt * (tsize + 4) + isstdcnt + isutcnt;
    return true;
  };
  auto zone = std::make_shared<Zone>();
  size_t end = 0;
  if (!parse_block(0, false, zone.get(), &end)) return nullptr;
  if (d[4] >= '2') {
    Zone z2;
    size_t end2 = 0;
    if (parse_block(end, true, &z2, &end2)) *zone = std::move(z2);
  }
  return zone;
}

std::optional<int64_t> ParseFixedOffset(std::string_view tz) {
  int sign = 1;
  if (!tz.empty() && (tz[0] == '+' || tz[0] == '-')) {
    sign = tz[0] == '-' ? -1 : 1;
    tz.remove_prefix(1);
  }
  if (tz.size() != 5 || tz[2] != ':') return std::nullopt;
  for (size_t k : {0, 1, 3, 4}) {
    if (tz[k] < '0' || tz[k] > '9') return std::nullopt;
  }
  int h = (tz[0] - '0') * 10 + (tz[1] - '0');
  int m = (tz[3] - '0') * 10 + (tz[4] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return sign * (h * 3600 + m * 60);
}

}  // namespace

std::optional<int64_t> ZoneOffset(std::string_view tz, int64_t unix_seconds) {
  if (tz == "UTC" || tz == "Z" || tz == "utc") return 0;
  if (auto fixed = ParseFixedOffset(tz)) return fixed;
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Zone>, std::less<>> cache;
  std::shared_ptr<const Zone> zone;
  {
    std::lock_guard lock(mu);
    auto it = cache.find(tz);
    if (it != cache.end()) {
      zone = it->second;
    } else {
      zone = LoadZone(std::string(tz));
      if (cache.size() < 1000) cache.emplace(std::string(tz), zone);
    }
  }
  if (!zone) return std::nullopt;
  const auto& tr = zone->transitions;
  if (tr.empty() || unix_seconds < tr.front()) return zone->default_offset;
  auto it = std::upper_bound(tr.begin(), tr.end(), unix_seconds);
  size_t idx = static_cast<size_t>(it - tr.begin()) - 1;
  return zone->offsets[zone->transition_type[idx]];
}

}  // namespace tether::cel
