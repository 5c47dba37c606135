# baton_set_warnings(target): the warning flags every Baton target builds with.
function(baton_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wconversion -Wno-sign-conversion -Wimplicit-fallthrough)
  if(BATON_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  # A sanitized library needs the sanitizer's runtime wherever it is linked,
  # in an outside project using the installed package too.
  get_target_property(_type ${target} TYPE)
  if(BATON_SANITIZE AND _type MATCHES "LIBRARY")
    target_link_options(${target} INTERFACE -fsanitize=${BATON_SANITIZE})
  endif()
endfunction()

# BATON_SANITIZE (e.g. address,undefined or thread) instruments every target.
# A report is never recovered from (-fno-sanitize-recover=all): the process
# stops at its first one, so the test that hit it fails. scripts/sanitize.sh
# builds and runs the suites this way.
if(BATON_SANITIZE)
  if(BATON_SANITIZE MATCHES "thread" AND BATON_SANITIZE MATCHES "address|leak|memory")
    message(FATAL_ERROR "BATON_SANITIZE=${BATON_SANITIZE}: thread cannot be combined with address, leak or memory")
  endif()
  add_compile_options(-fsanitize=${BATON_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${BATON_SANITIZE})
endif()
