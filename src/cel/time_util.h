// Time helpers for CEL timestamps and durations: proleptic Gregorian calendar arithmetic over
// the full CEL range (years 1..9999), RFC 3339 parsing/formatting, Go duration strings, and
// time zone offsets (fixed "+05:30" style or IANA names read from the system's TZif files).
//
// Pure functions; ZoneOffset caches parsed zone files behind a mutex and is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cel/value.h"

namespace tether::cel {

// Valid CEL timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
inline constexpr int64_t kMinTimestampSeconds = -62135596800;
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;
bool TimestampInRange(const Timestamp& t);

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
void CivilFromDays(int64_t days, int64_t* y, unsigned* m, unsigned* d);

struct CivilTime {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
  int hour, minute, second;
  int32_t nanos;
  int day_of_week;  // 0 = Sunday
  int day_of_year;  // 0-based
};
CivilTime ToCivil(const Timestamp& t, int64_t offset_seconds);

// RFC 3339 ("2023-01-02T03:04:05.123Z", "...+01:00"). nullopt on malformed or out-of-range.
std::optional<Timestamp> ParseTimestampRfc3339(std::string_view s);
// RFC 3339 with the fraction trimmed of trailing zeros, rendered at the given UTC offset.
std::string FormatTimestampRfc3339(const Timestamp& t, int64_t offset_seconds);

// Go duration syntax ("1h2m3.5s", "-1.5h", "300ms", "1us", "2ns"). nullopt on syntax error or
// overflow of int64 nanoseconds.
std::optional<int64_t> ParseGoDuration(std::string_view s);

// UTC offset (seconds east) of zone `tz` at the given instant. Accepts "UTC", "Z", fixed
// offsets "+05:30" / "-08:00" / "05:30", and IANA names ("America/Los_Angeles").
std::optional<int64_t> ZoneOffset(std::string_view tz, int64_t unix_seconds);

}  // namespace tether::cel
