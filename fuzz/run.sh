#!/bin/sh
# Build and run the unit test and libFuzzer target of the response
# decoder (src/json_tape.c, page.c, page_v4.c, convert.c, export.c; clang,
# AddressSanitizer + LeakSanitizer, UBSan) outside the server, on the backend
# stand-in fuzz/pg_shim.c.
#
#   fuzz/run.sh [seconds]      default 30 s of fuzzing; 0 = unit test only
#
# Warnings are errors (-Werror), as in the main build.
# Exits non-zero if the unit test fails or the fuzzer finds a crash or leak
# (the reproducer is left in fuzz/out/).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-30}
out=$here/out
mkdir -p "$out"

PGI=$(pg_config --includedir-server)
CC=${CLANG:-clang}
CFLAGS="-g -O1 -fno-omit-frame-pointer -I$PGI -I$here/../src -I$here \
  -Wall -Wextra -Werror -Wno-unused-parameter \
  -Wno-missing-field-initializers -Wno-ignored-attributes"
# libpgcommon: StringInfo, psprintf, base64 and UTF-8 as the server has them
LIBS="-L$(pg_config --pkglibdir) -lpgcommon -lpgport -lm"
src=$here/../src
DECODE="$src/json_tape.c $src/page.c $src/page_v4.c $src/convert.c $src/export.c"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

# decode_test: the table of exact outputs
$CC $CFLAGS $SAN -o "$out/decode_test" "$here/decode_test.c" \
  $DECODE "$here/pg_shim.c" $LIBS
ASAN_OPTIONS=detect_leaks=1 "$out/decode_test"

[ "$secs" -gt 0 ] || exit 0

# fuzz_decode: libFuzzer
$CC $CFLAGS $SAN -fsanitize=fuzzer -o "$out/fuzz_decode" "$here/fuzz_decode.c" \
  $DECODE "$here/pg_shim.c" $LIBS
mkdir -p "$out/corpus"
cd "$out"
ASAN_OPTIONS=detect_leaks=1 ./fuzz_decode -max_total_time="$secs" \
  -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -dict="$here/fauna.dict" -print_final_stats=1 \
  "$out/corpus" "$here/corpus"
