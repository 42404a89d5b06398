import Testing
@testable import Pebble
