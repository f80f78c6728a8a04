# doc_blocks.cmake — the C code the documentation shows is compiled, so it
# cannot drift from ward.h.
#
# In README.md and docs/*.md, every fenced ```c block follows a marker line:
#
#   <!-- compile: NAME -->          a complete program: written to
#                                   <build>/docs/NAME.c and built there as
#                                   NAME, linked with libward and jansson
#   <!-- compile and run: NAME -->  the same, and ctest runs it in
#                                   <build>/docs (beside the other programs,
#                                   which it may start), expecting status 0
#   <!-- compile: unit -->          definitions (functions, callbacks, types)
#                                   compiled, not linked, after the headers of
#                                   WARD_DOC_PRELUDE below
#   <!-- fragment -->               a few lines shown for their shape; not
#                                   compiled
#
# CMakeLists.txt includes this file and calls ward_doc_blocks(), which writes
# each block out (after a #line directive, so that a compiler names the
# document and its line) and declares the programs outside `all`: the ctest
# test doc_blocks builds them, so `make check` fails when a block no longer
# compiles. Run as a script,
#
#   cmake -DWARD_SOURCE_DIR=<source dir> -P cmake/doc_blocks.cmake
#
# it fails when a ```c block has no marker (the ctest test doc_markers), so
# that no block escapes the compiler unnoticed.

if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.25)
endif()

# What a unit is compiled after: ward.h and the usual headers, so that a
# unit shows only its own code.
set(WARD_DOC_PRELUDE "#define _POSIX_C_SOURCE 200809L
#include <ward.h>

#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
")

# Reads `doc` (a path under `src`) and sets, in the caller:
#   <prefix>_programs  the names of its complete programs
#   <prefix>_run       those of them ctest runs
#   <prefix>_units     the file names (without .c) of its units
#   <prefix>_errors    "doc:line: what is wrong", one per faulty block
# If `out_dir` is not empty, the programs and units are written there, each
# file rewritten only when its text changed (so nothing is rebuilt for an
# edit elsewhere in the document).
function(ward_doc_parse src doc out_dir prefix)
  file(READ "${src}/${doc}" text)
  string(REGEX REPLACE "[^A-Za-z0-9]" "_" stem "${doc}")
  set(programs "")
  set(run "")
  set(units "")
  set(errors "")
  set(from 0)
  while(TRUE)
    string(SUBSTRING "${text}" ${from} -1 rest)
    string(FIND "${rest}" "\n```c\n" at)
    if(at EQUAL -1)
      break()
    endif()
    math(EXPR fence "${from} + ${at} + 1")
    math(EXPR body "${fence} + 5")
    # The first line of code, for #line and for messages.
    string(SUBSTRING "${text}" 0 ${body} upto)
    string(REGEX MATCHALL "\n" newlines "${upto}")
    list(LENGTH newlines line)
    math(EXPR line "${line} + 1")
    # The block runs to the next fence at the start of a line.
    string(SUBSTRING "${text}" ${body} -1 tail)
    string(FIND "${tail}" "\n```\n" end)
    if(end EQUAL -1)
      list(APPEND errors "${doc}:${line}: a ```c block that never ends")
      break()
    endif()
    math(EXPR len "${end} + 1")
    string(SUBSTRING "${tail}" 0 ${len} code)
    math(EXPR from "${body} + ${end} + 4")
    # The marker is the line just above the fence.
    math(EXPR before "${fence} - 1")
    string(SUBSTRING "${text}" 0 ${before} head)
    string(FIND "${head}" "\n" nl REVERSE)
    math(EXPR nl "${nl} + 1")
    string(SUBSTRING "${head}" ${nl} -1 marker)

    set(file "")
    if(marker MATCHES "^<!-- compile: unit -->$")
      set(file "unit_${stem}_${line}")
      list(APPEND units ${file})
      set(content "${WARD_DOC_PRELUDE}#line ${line} \"${doc}\"\n${code}")
    elseif(marker MATCHES "^<!-- compile( and run)?: ([A-Za-z0-9_]+) -->$")
      set(file "${CMAKE_MATCH_2}")
      if(CMAKE_MATCH_1)
        list(APPEND run ${file})
      endif()
      list(APPEND programs ${file})
      set(content "#line ${line} \"${doc}\"\n${code}")
    elseif(NOT marker MATCHES "^<!-- fragment -->$")
      list(APPEND errors
           "${doc}:${line}: a ```c block with no marker above it (cmake/doc_blocks.cmake)")
    endif()
    if(file AND out_dir)
      file(WRITE "${out_dir}/${file}.c.new" "${content}")
      file(COPY_FILE "${out_dir}/${file}.c.new" "${out_dir}/${file}.c" ONLY_IF_DIFFERENT)
      file(REMOVE "${out_dir}/${file}.c.new")
    endif()
  endwhile()
  set(${prefix}_programs "${programs}" PARENT_SCOPE)
  set(${prefix}_run "${run}" PARENT_SCOPE)
  set(${prefix}_units "${units}" PARENT_SCOPE)
  set(${prefix}_errors "${errors}" PARENT_SCOPE)
endfunction()

# The documents whose blocks are compiled, relative to `src`.
function(ward_doc_files src out)
  file(GLOB docs RELATIVE "${src}" "${src}/docs/*.md")
  list(SORT docs)
  set(${out} README.md ${docs} PARENT_SCOPE)
endfunction()

# Declares the programs and units of every document (outside `all`), the
# target doc_blocks that builds them all, and the ctest tests: doc_blocks
# (build them), doc_markers (every block is marked) and doc_NAME for each
# program marked "compile and run".
function(ward_doc_blocks)
  set(src ${PROJECT_SOURCE_DIR})
  set(out ${PROJECT_BINARY_DIR}/docs)
  file(MAKE_DIRECTORY ${out})
  ward_doc_files(${src} docs)
  set(targets "")
  set(unit_files "")
  set(run "")
  foreach(doc IN LISTS docs)
    # An edited document is read again at the next build.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src}/${doc})
    ward_doc_parse(${src} ${doc} ${out} d)
    foreach(name IN LISTS d_programs)
      if(TARGET doc_${name})
        message(FATAL_ERROR "${doc}: a second program named ${name} in the documentation")
      endif()
      add_executable(doc_${name} EXCLUDE_FROM_ALL ${out}/${name}.c)
      set_target_properties(doc_${name} PROPERTIES
        OUTPUT_NAME ${name}
        RUNTIME_OUTPUT_DIRECTORY ${out})
      target_link_libraries(doc_${name} PRIVATE ward Threads::Threads PkgConfig::JANSSON)
      list(APPEND targets doc_${name})
    endforeach()
    foreach(name IN LISTS d_units)
      list(APPEND unit_files ${out}/${name}.c)
    endforeach()
    list(APPEND run ${d_run})
  endforeach()
  if(unit_files)
    add_library(doc_units OBJECT EXCLUDE_FROM_ALL ${unit_files})
    # For ward.h and jansson.h; nothing is linked.
    target_link_libraries(doc_units PRIVATE ward Threads::Threads PkgConfig::JANSSON)
    # A unit shows a helper or a callback on its own: nothing calls it.
    target_compile_options(doc_units PRIVATE -Wno-unused-function)
    list(APPEND targets doc_units)
  endif()
  add_custom_target(doc_blocks)
  if(targets)
    add_dependencies(doc_blocks ${targets})
  endif()

  add_test(NAME doc_blocks
           COMMAND ${CMAKE_COMMAND} --build ${PROJECT_BINARY_DIR} --target doc_blocks)
  set_tests_properties(doc_blocks PROPERTIES TIMEOUT 600 FIXTURES_SETUP doc_programs)
  add_test(NAME doc_markers
           COMMAND ${CMAKE_COMMAND} -DWARD_SOURCE_DIR=${src} -P ${src}/cmake/doc_blocks.cmake)
  set_tests_properties(doc_markers PROPERTIES TIMEOUT 60)
  foreach(name IN LISTS run)
    add_test(NAME doc_${name} COMMAND doc_${name} WORKING_DIRECTORY ${out})
    set_tests_properties(doc_${name} PROPERTIES TIMEOUT 120 FIXTURES_REQUIRED doc_programs)
  endforeach()
endfunction()

# As a script: check the markers, write nothing.
if(CMAKE_SCRIPT_MODE_FILE)
  if(NOT WARD_SOURCE_DIR)
    message(FATAL_ERROR "usage: cmake -DWARD_SOURCE_DIR=<source dir> -P doc_blocks.cmake")
  endif()
  ward_doc_files(${WARD_SOURCE_DIR} docs)
  set(all_errors "")
  set(count 0)
  foreach(doc IN LISTS docs)
    ward_doc_parse(${WARD_SOURCE_DIR} ${doc} "" d)
    list(APPEND all_errors ${d_errors})
    list(LENGTH d_programs n)
    list(LENGTH d_units u)
    math(EXPR count "${count} + ${n} + ${u}")
  endforeach()
  if(all_errors)
    list(JOIN all_errors "\n" text)
    message(FATAL_ERROR "${text}")
  endif()
  message(STATUS "${count} blocks of C in the documentation are compiled")
endif()
