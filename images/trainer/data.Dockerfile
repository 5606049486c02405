# The review data as a tiny image, for builders without named build contexts (see Dockerfile).
# Context: the data directory (../shared/data).
FROM scratch
COPY flipkart_reviews_badminton.csv /flipkart_reviews_badminton.csv
