import Pebble
print("bench")
