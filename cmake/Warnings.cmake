# Project-wide compile settings, carried by an INTERFACE target that every
# project target links PRIVATE (no global flags).
add_library(os_build_flags INTERFACE)
target_compile_options(os_build_flags INTERFACE
  -Wall -Wextra -Wshadow -Wformat=2 -Wconversion -Wsign-conversion
  -Wstrict-prototypes -Wmissing-prototypes -Wundef -Wcast-qual
  -Wpointer-arith -Wvla -Wnull-dereference -Wimplicit-fallthrough
  -fstack-protector-strong)
target_compile_definitions(os_build_flags INTERFACE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
if(ORGSECRETS_WERROR)
  target_compile_options(os_build_flags INTERFACE -Werror)
endif()
if(ORGSECRETS_SANITIZE)
  target_compile_options(os_build_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(os_build_flags INTERFACE -fsanitize=address,undefined)
endif()

# Helper: a module library with the project flags. PUBLIC: what its public
# header includes (other modules, jansson); PRIVATE: everything else.
function(orgsecrets_module name)
  cmake_parse_arguments(M "" "" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  add_library(os_${name} STATIC ${M_SOURCES})
  target_include_directories(os_${name} PUBLIC ${CMAKE_SOURCE_DIR}/pkg)
  target_link_libraries(os_${name} PRIVATE os_build_flags ${M_PRIVATE} PUBLIC ${M_PUBLIC})
endfunction()

# Helper: a cmocka test registered with CTest, with a timeout.
function(orgsecrets_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE os_build_flags PkgConfig::CMOCKA ${T_DEPS})
  target_compile_definitions(${name} PRIVATE
    TESTS_DIR="${CMAKE_SOURCE_DIR}/tests" BUILD_DIR="${CMAKE_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
endfunction()
