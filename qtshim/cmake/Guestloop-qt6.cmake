# Guestloop-qt6.cmake - the qt6 component of the Guestloop package
# (find_package(Guestloop COMPONENTS qt6) -> Guestloop::qt6), included by
# GuestloopConfig.cmake.
include(CMakeFindDependencyMacro)
find_dependency(Qt6 COMPONENTS Widgets)
include("${CMAKE_CURRENT_LIST_DIR}/GuestloopQt6Targets.cmake")
