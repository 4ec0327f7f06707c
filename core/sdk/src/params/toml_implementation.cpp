// The one translation unit that compiles toml++ (the rest of armor sees it with TOML_HEADER_ONLY=0):
// the SDK's inline parameters parse TOML, and the host's config composition links this library.
#define TOML_IMPLEMENTATION
// toml++ 3.3.0's parser asserts (in builds without NDEBUG) on malformed input it then reports as a
// parse error, e.g. `x = [1, 2,}]` or a key starting with a NUL byte (found by tests/fuzz/): a Debug
// armor would abort where the Release one says what is wrong. Its own error reporting is enough.
#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/toml.h>
