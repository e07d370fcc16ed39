# Every external dependency is found here, once.
find_package(OpenSSL 3.0 REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# libcurl: the system's, or with -DORGSECRETS_CURL_PREFIX=DIR the lean static
# one (HTTP and HTTPS only) that scripts/curl.sh built in DIR. Either way the
# targets link PkgConfig::CURL.
set(ORGSECRETS_CURL_PREFIX "" CACHE PATH
    "Lean static libcurl built by scripts/curl.sh in this prefix (empty: the system libcurl)")
if(ORGSECRETS_CURL_PREFIX)
  set(curl_pc ${ORGSECRETS_CURL_PREFIX}/lib/pkgconfig/libcurl.pc)
  set(curl_a ${ORGSECRETS_CURL_PREFIX}/lib/libcurl.a)
  set(curl_stamp ${ORGSECRETS_CURL_PREFIX}/.orgsecrets-curl)
  set(curl_source "")
  if(EXISTS ${curl_stamp})
    file(STRINGS ${curl_stamp} curl_source REGEX "^source ")
    string(REPLACE "source " "" curl_source "${curl_source}")
  endif()
  if(NOT EXISTS ${curl_pc} OR NOT EXISTS ${curl_a} OR curl_source STREQUAL "")
    message(FATAL_ERROR "ORGSECRETS_CURL_PREFIX=${ORGSECRETS_CURL_PREFIX} holds no lean libcurl "
                        "(build it with: bash scripts/curl.sh ${ORGSECRETS_CURL_PREFIX})")
  endif()
  # The .pc file by path: pkg-config cannot pick another libcurl, and a new
  # prefix re-runs the check.
  pkg_check_modules(CURL_LEAN REQUIRED ${curl_pc})
  set(curl_deps ${CURL_LEAN_STATIC_LIBRARIES})
  list(REMOVE_ITEM curl_deps curl)
  list(REMOVE_DUPLICATES curl_deps)
  # The archive by path, so that the linker cannot fall back to libcurl.so.
  add_library(PkgConfig::CURL INTERFACE IMPORTED)
  set_target_properties(PkgConfig::CURL PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CURL_LEAN_STATIC_INCLUDE_DIRS}"
    INTERFACE_COMPILE_OPTIONS "${CURL_LEAN_STATIC_CFLAGS_OTHER}"
    INTERFACE_LINK_LIBRARIES "${curl_a};${curl_deps};Threads::Threads")
  message(STATUS "libcurl: lean static ${CURL_LEAN_VERSION} (Debian source ${curl_source}) "
                 "from ${ORGSECRETS_CURL_PREFIX}")
else()
  pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
  message(STATUS "libcurl: system ${CURL_VERSION} (${CURL_LINK_LIBRARIES})")
endif()
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
# GnuTLS: libmicrohttpd's TLS backend; pkg/httpd hands it certificates through
# its certificate callback so that they can be rotated without a restart.
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls)

# Tests and their drivers.
if(ORGSECRETS_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
  find_package(ZLIB REQUIRED)  # tests/age: the C2SP vectors are zlib-compressed
  # Test drivers use Debian's python3, which has the apt packages
  # scripts/deps.sh installs (python3-jsonpatch, python3-yaml), not another
  # python3 on PATH.
  if(EXISTS /usr/bin/python3 AND NOT Python3_EXECUTABLE)
    set(Python3_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "python3 for the test drivers")
  endif()
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  find_program(BASH_PROGRAM bash REQUIRED)
  # Optional: the tests that need them say "skipped" without them.
  find_program(ORGSECRETS_NODE node)
  find_program(ORGSECRETS_NPM npm)
  find_program(ORGSECRETS_GO go)
  # helmrender's Go libraries, as Debian packages them (GOPATH mode)
  set(ORGSECRETS_GOCODE /usr/share/gocode/src)
  set(ORGSECRETS_HELMRENDER_MISSING "")
  if(NOT ORGSECRETS_GO)
    set(ORGSECRETS_HELMRENDER_MISSING "go (golang-go)")
  endif()
  foreach(pkg github.com/Masterminds/sprig sigs.k8s.io/yaml github.com/xeipuuv/gojsonschema
          github.com/Masterminds/semver)
    if(NOT EXISTS ${ORGSECRETS_GOCODE}/${pkg})
      string(APPEND ORGSECRETS_HELMRENDER_MISSING " ${ORGSECRETS_GOCODE}/${pkg}")
    endif()
  endforeach()
endif()
