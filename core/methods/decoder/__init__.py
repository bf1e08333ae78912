"""methods/decoder"""
