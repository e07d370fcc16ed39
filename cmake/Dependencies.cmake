# Every external dependency is found here, once.
find_package(OpenSSL 3.0 REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
if(ORGSECRETS_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
# Test drivers use Debian's python3, which has the apt packages scripts/deps.sh
# installs (python3-jsonpatch, python3-yaml), not another python3 on PATH.
if(EXISTS /usr/bin/python3 AND NOT Python3_EXECUTABLE)
  set(Python3_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "python3 for the test drivers")
endif()
if(ORGSECRETS_TESTS)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
endif()
